"""The Docker deployment (docker/): compose files, the Dockerfile, the instance and workspace
config, the wheel. Static checks: no Docker engine is needed."""
