"""A local stand-in for the OpenAI Images API, its Files and Batches endpoints
and the Azure OpenAI deployment routes, for the specs, the conformance suite
and the benchmarks. See ../README.md.

Modules, each owning one concern, calls going downwards only:

    main        command line, the listening server, --watch-pid
    handler     HTTP: reading requests, routing, recording, sending answers
    control     the /__control/ API (config, faults, records, blobs)
    faults      fault queue entries and the answers / body transforms they cause
    batches     the Files and Batches endpoints
    generation  one images request resolved into an ImagesResponse or SSE answer
    models      shut-down and current models and what each accepts
    multipart   strict multipart/form-data parsing
    images      real PNG / GIF / SVG / JPEG / WebP images and the served-image store
    patterns    what an image looks like: a pattern and colours from the prompt
    gif         the animated GIF encoder
    answers     answer bodies as byte segments, JSON encoding, API errors
    state       the one State object: config, faults, records, files, batches

There is no module-global state: everything mutable lives in a State that
the server owns and the handler passes down.
"""
