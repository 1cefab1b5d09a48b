"""The application layer: what the API does for a caller, with no HTTP in it.

Who is calling (``access``) and how often they may (``limits``), turning a request into a job
(``submit``) and writing jobs in groups (``submitter``), storing uploads (``uploads``), waiting
for a job to end (``waits``), and the bundle the API process holds (``services``). Importable
without FastAPI or starlette; ``tilework.api`` puts routes and wire formats over it.
"""
