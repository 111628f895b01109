"""Request bytes to a verified CSR and the plain `RequestFacts` the policy judges.

    body --decode_csr_body--> DER --parse_csr--> VerifiedCsr --request_facts--> RequestFacts

`load_csr` does the first two steps. Failures raise `MalformedCsr`, `CsrSignatureInvalid` or
`PolicyRejected` (`key_type_not_allowed`) from `service.errors`.
"""

from service.csr.decode import decode_csr_body
from service.csr.facts import key_facts, request_facts
from service.csr.parse import VerifiedCsr, load_csr, parse_csr

__all__ = ["VerifiedCsr", "decode_csr_body", "key_facts", "load_csr", "parse_csr", "request_facts"]
