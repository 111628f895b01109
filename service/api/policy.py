"""`/api/v1/policy`: the policy in force and its version."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from policies.validity import cabf_max_validity_days
from service.api.docs import CertgateBlueprint
from service.api.auth import ANY_ROLE, require, runtime
from service.api.schemas import PolicySchema

blp = CertgateBlueprint("policy", __name__, url_prefix="/api/v1/policy", description="The policy in force")


@blp.route("")
class PolicyView(MethodView):
    @require(*ANY_ROLE)
    @blp.response(200, PolicySchema)
    def get(self) -> Any:
        """The policy document, its version (SHA-256 of the file) and today's CA/B maximum."""
        rt = runtime()
        loaded = rt.loaded_policy
        names = loaded.policy.names
        return {
            "version": loaded.policy.version,
            "policy": loaded.policy.raw,
            "source": loaded.text,
            "cabf_max_validity_days": cabf_max_validity_days(rt.clock()),
            "address_rule": loaded.policy.address_rule.value,
            "names": {"max_names": names.max_names, "allow_internal": names.allow_internal,
                      "caa": {"enabled": names.caa_enabled, "identities": list(names.caa_identities)},
                      "public_suffix_list": {"source": rt.judge.suffixes.source, "rules": len(rt.judge.suffixes)}},
        }
