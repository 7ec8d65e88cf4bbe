"""Dialtone: policy-as-code compliance and governance for communications estates."""
