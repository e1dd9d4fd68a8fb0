"""The image reflector: ImageRepository scans registries, ImagePolicy picks a tag.

Shaped like Flux's image-reflector-controller: `repository` scans and stores
tags (`tagstore`, one file per object), `policy` reads them back and applies
`policies`; `controller` wires both on a manager (group ``image-reflector``).
"""
