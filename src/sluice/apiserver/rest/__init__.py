"""Kubernetes REST semantics: the verbs (registry), admission, HTTP handlers, patches, tables."""
