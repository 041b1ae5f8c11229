"""Pure: engine observations -> PipelineExecution status."""
