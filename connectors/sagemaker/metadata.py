"""The CustomerMetadataProperties keys Countersign reads and writes on model packages (AWS allows letters,
digits and ``_.:/=+-@``)."""

META_PREFIX = "countersign:"
META_REQUEST = "countersign:request-id"
META_SOURCE_ARN = "countersign:source-arn"
META_SOURCE_ACCOUNT = "countersign:source-account"
META_LEDGER = "countersign:ledger-hash"
META_APPROVED_BY = "countersign:approved-by"
META_CREATED_BY = "countersign:created-by"
META_TRAINING_JOB = "countersign:training-job"
META_CAPTURE_COLUMNS = "countersign:capture-columns"
META_DATA = "countersign:data:"  # countersign:data:reference = s3://... names a dataset of the version
META_ARTIFACT_SHA256 = "countersign:artifact-sha256"  # the digest of the bytes a promotion copied (registry digest)
