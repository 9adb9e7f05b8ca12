"""The authors' later design space (PLUREL_V2_SPEC.md): the "v2" preset's laws and structure."""
