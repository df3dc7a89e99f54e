"""SageMaker connector: one AWS account and region's model registry, runs, endpoints and model cards.

Credentials come the AWS way: a boto3 session from ``profile`` (or the default chain), and when ``role_arn`` is
set, STS AssumeRole through botocore's refreshable credentials (renewed before expiry; session name
``countersign-sync`` / ``countersign-promote``). Endpoints come from boto3's own configuration
(``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_SAGEMAKER``, a profile's ``endpoint_url``): tests reach moto that way.

Incremental sync. SageMaker's list of model packages carries no modification time, so the watermark is the state
seen by the last sync, as compact JSON: per package a short hash of what the listing shows (approval status,
package status, description), per endpoint / trial component / model card its ``LastModifiedTime``. A re-sync lists
everything (a handful of paginated calls) and describes only what is new or changed; ``--full`` describes
everything and lets the catalog delete what disappeared. A change that the listings cannot show (only the
customer metadata of a package edited) is picked up by the next full sync.

Documents that a version points to (ModelMetrics, DriftCheckBaselines: model quality, Clarify bias and
explainability reports, Model Monitor statistics/constraints) are fetched into the cache; their numbers become
``VersionRecord.metrics``. Data capture of the endpoints serving a version is exposed as
``data_uris["current"] = "capture+s3://bucket/prefix/<endpoint>/<variant>/?columns=..."``; ``fetch`` of such a
URI reads the JSON lines and writes one Parquet file into the cache.

The rooms of this package:

- :mod:`~connectors.sagemaker.settings`: ``SageMakerSettings`` (no boto3: validating a config stays light).
- :mod:`~connectors.sagemaker.session`: sessions, shared clients, the call meter, ``fetch`` of S3 objects.
- :mod:`~connectors.sagemaker.extract`: the watermark and ``extract`` (groups, packages, runs, endpoints, cards).
- :mod:`~connectors.sagemaker.documents`: metrics from model quality, Clarify and Model Monitor documents.
- :mod:`~connectors.sagemaker.capture`: endpoint data capture URIs, read into rows and Parquet.
- :mod:`~connectors.sagemaker.promote`: ``set_approval`` and ``register_copy``.
- :mod:`~connectors.sagemaker.metadata`: the customer metadata keys Countersign reads and writes.
- :mod:`~connectors.sagemaker.cloudtrail`: CloudTrail log files read as registry changes (backfill).
- :mod:`~connectors.sagemaker.history`: ``read_history`` (CloudTrail, lifecycle actions) and the SQS event queue.
- :mod:`~connectors.sagemaker.events`: EventBridge events (model package and endpoint state changes) parsed.
- :mod:`~connectors.sagemaker.connector`: ``SageMakerConnector``, the parts put together.
"""

from __future__ import annotations

from connectors.sagemaker.connector import SageMakerConnector
from connectors.sagemaker.session import forget_clients
from connectors.sagemaker.settings import SageMakerSettings

__all__ = ["SageMakerConnector", "SageMakerSettings", "forget_clients"]
