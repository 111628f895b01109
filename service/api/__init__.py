"""The HTTP layer: one blueprint per resource, schemas at the edge, one error table."""
