"""Server-side apply: field sets and ``managedFields`` ownership, as kube-apiserver keeps them."""
