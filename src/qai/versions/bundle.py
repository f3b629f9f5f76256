"""The whole app as a download: the template's own files (``package.json``, the lock file,
configs, layout) under the version's files, and a README saying how to run it."""

from __future__ import annotations

from collections.abc import Mapping

from qai.sandbox import Template

SKIPPED = frozenset({"node_modules", ".next", "__pycache__"})
README = "README.md"
RUNNING = "RUNNING.md"  # where the how-to goes when the app has a README of its own

HOW_TO_RUN = {
    "nextjs": """# {title}

A Next.js app built with QAI.

## Run it

You need Node.js 20 or later.

```sh
npm install
npm run dev
```

Then open http://localhost:3000. `npm ci` installs exactly the versions in `package-lock.json`;
`npm run build && npm start` serves a production build.
""",
    "web": """# {title}

A web page built with QAI: plain HTML, CSS and JavaScript, nothing to install.

## Run it

Open `index.html` in a browser, or serve the folder:

```sh
python3 -m http.server 8080
```

and open http://localhost:8080.
""",
}


def template_files(template: Template) -> dict[str, bytes]:
    """The template's starter files by relative path, without installed packages."""
    found: dict[str, bytes] = {}
    root = template.starter
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not SKIPPED.intersection(relative.parts):
            found[relative.as_posix()] = path.read_bytes()
    return found


def app_files(template: Template, files: Mapping[str, str], title: str) -> dict[str, bytes]:
    """What the sandbox holds for this version: the template's files, the version's over them,
    and a README (``RUNNING.md`` when the app has its own README)."""
    bundle = template_files(template)
    bundle.update({path: content.encode() for path, content in files.items()})
    how_to = HOW_TO_RUN.get(template.name, HOW_TO_RUN["web"]).format(title=title or "QAI app")
    bundle[RUNNING if README in files else README] = how_to.encode()
    return bundle
