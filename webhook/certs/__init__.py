"""The webhook's TLS material: a private CA, a serving certificate, and the caBundle hand-off.

Pure generation and file handling live here and never import `kubernetes`;
`webhook.certs.inject` is the only module that talks to a cluster, so importing this package
(as `serve --dev` does through `ensure_dev_certificates`) costs no cluster client.
"""

from webhook.certs.check import CheckReport, check_directory
from webhook.certs.dev import DEFAULT_DEV_DIRECTORY, DevCertificates, ensure_dev_certificates
from webhook.certs.files import BundlePaths, read_material, write_bundle
from webhook.certs.generate import Bundle, Identity, KeyPair, create_ca, create_serving, service_identity
from webhook.certs.renew import Action, Outcome, PemMaterial, RenewalPolicy, ensure_bundle

__all__ = [
    "DEFAULT_DEV_DIRECTORY",
    "Action",
    "Bundle",
    "BundlePaths",
    "CheckReport",
    "DevCertificates",
    "Identity",
    "KeyPair",
    "Outcome",
    "PemMaterial",
    "RenewalPolicy",
    "check_directory",
    "create_ca",
    "create_serving",
    "ensure_bundle",
    "ensure_dev_certificates",
    "read_material",
    "service_identity",
    "write_bundle",
]
