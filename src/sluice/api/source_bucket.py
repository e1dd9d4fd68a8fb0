"""The ``source.toolkit.fluxcd.io/v1`` Bucket kind: artifacts from S3-compatible object storage.

A Bucket source reads the objects of a bucket (``generic`` S3 API, ``aws``,
``gcp``, ``azure``) below an optional ``prefix``, with Flux's field names,
CRD defaults (``provider: generic``, ``timeout: 60s``), enums, patterns and
the CEL rules that tie ``sts`` to the provider. The condition types, reasons
and the fields every source shares are :mod:`sluice.api.source`'s; this kind
sits apart only to keep that module to one screenful of kinds.
"""

from __future__ import annotations

from dataclasses import field
from typing import Annotated

from sluice.api.meta import STATUS_WITH_GENERATION, Duration, LocalObjectReference, Timeout
from sluice.api.resource import PrinterColumn, Resource
from sluice.api.schema import Model, Rule, S
from sluice.api.source import (
    CERT_SECRET_REF,
    FETCH_TIMEOUT,
    IGNORE,
    INTERVAL,
    PROXY_SECRET_REF,
    SUSPEND,
    SourceStatus,
    source_columns,
    source_kind_info,
)

__all__ = ["KINDS", "Bucket", "BucketSTSSpec", "BucketSpec", "BucketStatus"]


class BucketSTSSpec(Model):
    """Security Token Service used to get temporary credentials."""

    provider: Annotated[str, S("STS provider.", enum=("aws", "ldap"))]
    endpoint: Annotated[str, S("STS endpoint address.", pattern=r"^(http|https)://.*$")]
    secret_ref: Annotated[LocalObjectReference | None, S("Secret with LDAP credentials.")] = None
    cert_secret_ref: Annotated[LocalObjectReference | None, CERT_SECRET_REF] = None


class BucketSpec(Model):
    """Desired state of a Bucket."""

    schema_rules = (
        Rule(
            "self.provider == 'aws' || self.provider == 'generic' || !has(self.sts)",
            "STS is only supported for the 'aws' and 'generic' providers",
        ),
        Rule(
            "self.provider != 'aws' || !has(self.sts) || self.sts.provider == 'aws'",
            "the 'aws' provider only supports the 'aws' STS provider",
        ),
        Rule(
            "self.provider != 'generic' || !has(self.sts) || self.sts.provider == 'ldap'",
            "the 'generic' provider only supports the 'ldap' STS provider",
        ),
        Rule(
            "!has(self.sts) || !has(self.sts.secretRef) || self.sts.provider == 'ldap'",
            "spec.sts.secretRef is only supported by the 'ldap' STS provider",
        ),
        Rule(
            "!has(self.sts) || !has(self.sts.certSecretRef) || self.sts.provider == 'ldap'",
            "spec.sts.certSecretRef is only supported by the 'ldap' STS provider",
        ),
        Rule(
            "self.provider != 'generic' || !has(self.serviceAccountName)",
            "serviceAccountName is not supported by the 'generic' provider",
        ),
        Rule(
            "!has(self.secretRef) || !has(self.serviceAccountName)",
            "cannot set both secretRef and serviceAccountName",
        ),
    )

    provider: Annotated[
        str | None,
        S(
            "Object storage provider.",
            default="generic",
            enum=("generic", "aws", "gcp", "azure"),
        ),
    ] = None
    bucket_name: Annotated[str, S("Name of the bucket.")]
    endpoint: Annotated[str, S("Object storage endpoint (host[:port]).")]
    sts: Annotated[BucketSTSSpec | None, S("Temporary credentials service.")] = None
    insecure: Annotated[bool | None, S("Use plain HTTP to reach the endpoint.")] = None
    region: Annotated[str | None, S("Region of the bucket.")] = None
    prefix: Annotated[str | None, S("Only fetch objects under this key prefix.")] = None
    secret_ref: Annotated[
        LocalObjectReference | None, S("Secret with 'accesskey' and 'secretkey'.")
    ] = None
    service_account_name: Annotated[str | None, S("ServiceAccount used for workload identity.")] = (
        None
    )
    cert_secret_ref: Annotated[LocalObjectReference | None, CERT_SECRET_REF] = None
    proxy_secret_ref: Annotated[LocalObjectReference | None, PROXY_SECRET_REF] = None
    interval: Annotated[Duration, INTERVAL]
    timeout: Annotated[Timeout | None, FETCH_TIMEOUT] = None
    ignore: Annotated[str | None, IGNORE] = None
    suspend: Annotated[bool | None, SUSPEND] = None


class BucketStatus(SourceStatus):
    """Observed state of a Bucket."""

    url: Annotated[str | None, S("Download address of the last artifact.")] = None
    observed_ignore: Annotated[str | None, S("The ignore rules of the last artifact.")] = None


class Bucket(Resource):
    """Bucket is the Schema for the buckets API."""

    info = source_kind_info("Bucket", "buckets", source_columns(PrinterColumn("Endpoint", ".spec.endpoint")))

    spec: BucketSpec
    status: Annotated[BucketStatus, STATUS_WITH_GENERATION] = field(default_factory=BucketStatus)


KINDS: tuple[type[Resource], ...] = (Bucket,)
