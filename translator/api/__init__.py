"""The custom resources and the pipeline config file, as typed models."""
