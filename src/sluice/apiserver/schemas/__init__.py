"""What the embedded cluster serves and how objects must look: catalogue, discovery, OpenAPI, schemas."""
