"""A small async OCI distribution client: image names, credentials, tags and digests.

Used by the image reflector (tag scans, digest reflection) and open to any
other controller that talks to registries. Stands on httpx only, below the
controllers in the layers contract.
"""
