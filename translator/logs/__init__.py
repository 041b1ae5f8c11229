"""Step logs: the S3/MinIO archive (`archive`)."""
