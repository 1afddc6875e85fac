"""The unit lane's shared set-up."""

import freezegun

# pyinfra-testing freezes the date around each fact fixture's process(); freezegun then walks every loaded
# module for datetime/time names to patch, about 50 ms each time once the lane has imported its ~3000
# modules. None of these packages parses a date for a fact, so they are left out of that walk.
freezegun.configure(extend_ignore_list=[
    "_pytest", "pytest", "pluggy", "xdist", "execnet", "hypothesis", "gevent", "greenlet", "zope", "cryptography",
    "paramiko", "nacl", "bcrypt", "httpx", "httpcore", "h11", "anyio", "sniffio", "certifi", "idna", "openai",
    "ollama", "pydantic", "pydantic_core", "jiter", "distro", "jinja2", "markupsafe", "yaml", "testinfra",
    "email", "http", "asyncio", "concurrent", "encodings", "importlib", "xml", "json", "unittest", "ctypes",
    "multiprocessing", "logging", "urllib", "collections", "pygments", "click", "typeguard", "packaging",
    "jetson_sim",
])
