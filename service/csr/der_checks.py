"""DER-level checks on a PKCS#10 request: what `cryptography` accepts silently or hides.

One strict pass (`der.parse_der`) gives the tree; these checks then read the RFC 2986 layout:

    CertificationRequest ::= SEQUENCE {
        certificationRequestInfo SEQUENCE {
            version       INTEGER (0),
            subject       Name,
            subjectPKInfo SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING },
            attributes    [0] IMPLICIT SET OF Attribute },
        signatureAlgorithm AlgorithmIdentifier,
        signature          BIT STRING }
"""

from __future__ import annotations

from service.csr.der import (
    BIT_STRING,
    BOOLEAN,
    CONTEXT_0_CONSTRUCTED,
    INTEGER,
    NULL,
    OCTET_STRING,
    OID,
    SEQUENCE,
    SET,
    DerError,
    Node,
    check_set_order,
    oid_bytes,
    oid_text,
    parse_der,
)
from service.errors import MalformedCsr, PolicyRejected

KEY_TYPE_NOT_ALLOWED = "key_type_not_allowed"
KEY_TYPE_RULE = "key_type"

_COMMON_NAME = oid_bytes("2.5.4.3")
_EXTENSION_REQUEST = oid_bytes("1.2.840.113549.1.9.14")
_RSA = oid_bytes("1.2.840.113549.1.1.1")
_EC = oid_bytes("1.2.840.10045.2.1")
_ED25519 = oid_bytes("1.3.101.112")
_ED448 = oid_bytes("1.3.101.113")
_DSA = oid_bytes("1.2.840.10040.4.1")

# Names for the key algorithms people actually send, so a refusal says what it saw.
_KNOWN_OTHER_KEYS = {
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    "1.2.840.113549.1.1.7": "RSAES-OAEP",
    "1.3.101.110": "X25519",
    "1.3.101.111": "X448",
    "1.2.840.10046.2.1": "Diffie-Hellman",
    "1.3.132.1.12": "id-ecDH",
    "1.2.156.10197.1.301": "SM2",
    "1.2.643.2.2.19": "GOST R 34.10-2001",
    "1.2.643.7.1.1.1.1": "GOST R 34.10-2012 (256 bit)",
    "1.2.643.7.1.1.1.2": "GOST R 34.10-2012 (512 bit)",
}


def check_csr_der(der: bytes) -> None:
    """Refuse a CSR whose encoding or structure is ambiguous, before `cryptography` reads it.

    Raises:
        MalformedCsr: not strict DER, not a PKCS#10 layout, version other than 0, more than one
            commonName, duplicated attributes, more than one extensionRequest, duplicated
            extensions, or key parameters that do not match the key algorithm.
        PolicyRejected: `key_type_not_allowed` for explicit EC curve parameters and for key
            algorithms other than RSA, EC, Ed25519, Ed448 and DSA.
    """
    try:
        root = parse_der(der)
        _check_layout(der, root)
    except DerError as exc:
        raise MalformedCsr(f"the CSR is not strict DER: {exc}") from exc


def key_type_rejection(message: str, subject: str) -> PolicyRejected:
    """A `key_type_not_allowed` refusal carrying its violation, as the policy would word it."""
    violation = {
        "rule": KEY_TYPE_RULE,
        "code": KEY_TYPE_NOT_ALLOWED,
        "message": message,
        "subject": subject,
    }
    return PolicyRejected(KEY_TYPE_NOT_ALLOWED, message, [violation])


def _check_layout(der: bytes, root: Node) -> None:
    if root.tag != SEQUENCE or len(root.children) != 3:
        raise MalformedCsr("not a PKCS#10 certification request")
    info, signature_algorithm, signature = root.children
    if info.tag != SEQUENCE:
        raise MalformedCsr("not a PKCS#10 certification request")
    if len(info.children) >= 6 or info.children and info.children[0].tag == CONTEXT_0_CONSTRUCTED:
        # a TBSCertificate: [0] version (v3), or serial, algorithm, issuer, validity, ... (v1)
        raise MalformedCsr("this is a certificate, not a CSR")
    if len(info.children) != 4:
        raise MalformedCsr("certificationRequestInfo must have version, subject, key, attributes")
    version, subject, spki, attributes = info.children
    if version.tag != INTEGER:
        raise MalformedCsr("the CSR version is not an INTEGER")
    if der[version.body : version.end] != b"\x00":
        number = int.from_bytes(der[version.body : version.end], "big", signed=True)
        raise MalformedCsr(f"unsupported CSR version field {number} (PKCS#10 v1 is encoded as 0)")
    _check_subject(der, subject)
    _check_public_key_info(der, spki)
    _check_attributes(der, attributes)
    _algorithm_identifier(der, signature_algorithm, "signatureAlgorithm")
    if signature.tag != BIT_STRING or der[signature.body] != 0:
        raise MalformedCsr("the signature is not a whole-octet BIT STRING")


def _check_subject(der: bytes, subject: Node) -> None:
    if subject.tag != SEQUENCE:
        raise MalformedCsr("the subject is not a Name")
    common_names = 0
    for rdn in subject.children:
        if rdn.tag != SET or not rdn.children:
            raise MalformedCsr("the subject holds an empty or malformed RDN")
        for pair in rdn.children:
            if pair.tag != SEQUENCE or len(pair.children) != 2 or pair.children[0].tag != OID:
                raise MalformedCsr("the subject holds a malformed attribute")
            oid = pair.children[0]
            if der[oid.body : oid.end] == _COMMON_NAME:
                common_names += 1
    if common_names > 1:
        raise MalformedCsr(f"the subject holds {common_names} commonNames; at most one is allowed")


def _check_public_key_info(der: bytes, spki: Node) -> None:
    if spki.tag != SEQUENCE or len(spki.children) != 2 or spki.children[1].tag != BIT_STRING:
        raise MalformedCsr("the subjectPublicKeyInfo is malformed")
    oid, params = _algorithm_identifier(der, spki.children[0], "the key algorithm")
    algorithm = der[oid.body : oid.end]
    if algorithm == _RSA:
        if params is None or params.tag != NULL:
            raise MalformedCsr("rsaEncryption key parameters must be NULL")
    elif algorithm == _EC:
        if params is not None and params.tag == OID:
            return
        if params is not None and params.tag in (SEQUENCE, NULL):
            form = "explicit curve parameters" if params.tag == SEQUENCE else "implicitCA parameters"
            raise key_type_rejection(
                f"EC keys must name their curve; {form} are not allowed", "public key (EC)"
            )
        raise MalformedCsr("id-ecPublicKey parameters must name a curve")
    elif algorithm in (_ED25519, _ED448):
        if params is not None:
            raise MalformedCsr("Ed25519 and Ed448 keys must have no algorithm parameters")
    elif algorithm == _DSA:
        return  # the policy refuses DSA; the facts say what it is
    else:
        dotted = oid_text(der[oid.body : oid.end])
        name = _KNOWN_OTHER_KEYS.get(dotted, "an unknown algorithm")
        raise key_type_rejection(
            f"key type {name} ({dotted}) is not allowed", f"public key ({dotted})"
        )


def _check_attributes(der: bytes, attributes: Node) -> None:
    if attributes.tag != CONTEXT_0_CONSTRUCTED:
        raise MalformedCsr("the CSR attributes are missing or malformed")
    check_set_order(der, attributes.children)  # [0] IMPLICIT SET OF: the parser saw no SET tag
    seen: set[bytes] = set()
    for attribute in attributes.children:
        if (
            attribute.tag != SEQUENCE
            or len(attribute.children) != 2
            or attribute.children[0].tag != OID
            or attribute.children[1].tag != SET
            or not attribute.children[1].children
        ):
            raise MalformedCsr("the CSR holds a malformed attribute")
        oid, values = attribute.children
        kind = der[oid.body : oid.end]
        if kind in seen:
            if kind == _EXTENSION_REQUEST:
                raise MalformedCsr("the CSR holds more than one extensionRequest attribute")
            raise MalformedCsr(f"the CSR repeats the attribute {oid_text(kind)}")
        seen.add(kind)
        if kind == _EXTENSION_REQUEST:
            if len(values.children) != 1:
                raise MalformedCsr("the extensionRequest attribute must hold exactly one value")
            _check_extensions(der, values.children[0])


def _check_extensions(der: bytes, extensions: Node) -> None:
    if extensions.tag != SEQUENCE:
        raise MalformedCsr("the extensionRequest is not a SEQUENCE of extensions")
    seen: set[bytes] = set()
    for extension in extensions.children:
        parts = extension.children
        if extension.tag != SEQUENCE or len(parts) not in (2, 3) or parts[0].tag != OID:
            raise MalformedCsr("the extensionRequest holds a malformed extension")
        if len(parts) == 3 and (parts[1].tag != BOOLEAN or der[parts[1].body] != 0xFF):
            # critical is BOOLEAN DEFAULT FALSE: DER omits it rather than encoding FALSE
            raise MalformedCsr("an extension encodes critical=FALSE explicitly (not DER)")
        if parts[-1].tag != OCTET_STRING:
            raise MalformedCsr("an extension value is not an OCTET STRING")
        kind = der[parts[0].body : parts[0].end]
        if kind in seen:
            raise MalformedCsr(f"the extensionRequest repeats the extension {oid_text(kind)}")
        seen.add(kind)


def _algorithm_identifier(der: bytes, node: Node, what: str) -> tuple[Node, Node | None]:
    if node.tag != SEQUENCE or not 1 <= len(node.children) <= 2 or node.children[0].tag != OID:
        raise MalformedCsr(f"{what} is not a valid AlgorithmIdentifier")
    params = node.children[1] if len(node.children) == 2 else None
    return node.children[0], params
