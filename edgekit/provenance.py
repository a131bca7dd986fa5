"""Where a result came from: the git commit, branch, dirty flag and commit time of the code that
was measured, the CI run that measured it, and the runtime versions.

Read, in order: ``--commit`` (the override; its branch from CI or git where they agree), then
the CI's environment, then ``git`` in the artifact's folder, then in the current folder. The CI
variables read (``CI_VARIABLES``): GitHub Actions (GITHUB_SHA, GITHUB_REF_NAME, the run URL
from GITHUB_SERVER_URL/GITHUB_REPOSITORY/GITHUB_RUN_ID), GitLab (CI_COMMIT_SHA,
CI_COMMIT_BRANCH or CI_COMMIT_REF_NAME, CI_JOB_URL), Buildkite (BUILDKITE_COMMIT,
BUILDKITE_BRANCH, BUILDKITE_BUILD_URL), CircleCI (CIRCLE_SHA1, CIRCLE_BRANCH,
CIRCLE_BUILD_URL), Azure Pipelines (BUILD_SOURCEVERSION, BUILD_SOURCEBRANCHNAME) and Jenkins
(GIT_COMMIT, GIT_BRANCH, BUILD_URL). A result made outside any repository says so
(``source: none``); git missing, or a folder that is no repository, never fails a run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

# CI -> (commit, branch, run URL or a function of the environment)
CI_VARIABLES: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "github": ("GITHUB_SHA", ("GITHUB_HEAD_REF", "GITHUB_REF_NAME"), None),
    "gitlab": ("CI_COMMIT_SHA", ("CI_COMMIT_BRANCH", "CI_COMMIT_REF_NAME"), "CI_JOB_URL"),
    "buildkite": ("BUILDKITE_COMMIT", ("BUILDKITE_BRANCH",), "BUILDKITE_BUILD_URL"),
    "circleci": ("CIRCLE_SHA1", ("CIRCLE_BRANCH",), "CIRCLE_BUILD_URL"),
    "azure": ("BUILD_SOURCEVERSION", ("BUILD_SOURCEBRANCHNAME",), None),
    "jenkins": ("GIT_COMMIT", ("GIT_BRANCH",), "BUILD_URL"),
}
UNKNOWN: dict[str, Any] = {"commit": None, "branch": None, "dirty": None, "commit_time": None,
                           "ci": None, "ci_url": None, "source": "none"}


def _github_url(env: dict[str, str]) -> str | None:
    parts = [env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    return f"{parts[0]}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else None


def from_ci(env: dict[str, str]) -> dict[str, Any] | None:
    """The commit, branch and run URL a CI's environment states; None outside CI."""
    for ci, (sha, branches, url) in CI_VARIABLES.items():
        if env.get(sha):
            branch = next((env[b] for b in branches if env.get(b)), None)
            if ci == "jenkins" and branch:
                branch = branch.removeprefix("origin/")
            return {"commit": env[sha], "branch": branch, "ci": ci,
                    "ci_url": _github_url(env) if ci == "github" else env.get(url or "")}
    return None


def _git(folder: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def from_git(folder: Path) -> dict[str, Any] | None:
    """The commit, branch, dirty flag and commit time of the repository holding ``folder``;
    None where git is missing or the folder is in no repository."""
    if shutil.which("git") is None or not folder.is_dir():
        return None
    sha = _git(folder, "rev-parse", "HEAD")
    if not sha:
        return None
    branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return {"commit": sha, "branch": None if branch in (None, "HEAD") else branch,
            "dirty": None if status is None else bool(status),
            "commit_time": _git(folder, "log", "-1", "--format=%cI", "HEAD")}


def collect(artifact: str | Path | None = None, commit: str | None = None,
            env: dict[str, str] | None = None, cwd: Path | None = None) -> dict[str, Any]:
    """The provenance of a result measured now, on ``artifact`` (a path, or None)."""
    env = dict(os.environ) if env is None else env
    folders = [Path(artifact).resolve().parent] if artifact and Path(artifact).exists() else []
    folders.append((cwd or Path.cwd()).resolve())
    git = next((g for f in folders if (g := from_git(f)) is not None), None)
    ci = from_ci(env)
    out = dict(UNKNOWN)
    if git is not None:
        out.update(git, source="git")
    if ci is not None:  # CI names the commit it checked out, also where git is absent
        same = git is not None and git["commit"] == ci["commit"]
        out.update(commit=ci["commit"], branch=ci["branch"] or (git or {}).get("branch"),
                   ci=ci["ci"], ci_url=ci["ci_url"], source="ci")
        if not same:
            out.update(dirty=None, commit_time=None)
    if commit:
        same = out["commit"] is not None and str(out["commit"]).startswith(commit)
        out.update(commit=out["commit"] if same else commit, source="override")
        if not same:  # another commit than the folder's: its branch and state are not known
            out.update(branch=None, dirty=None, commit_time=None)
    return out


def versions(fingerprint: dict[str, Any]) -> dict[str, str]:
    """The runtime versions a result ran with (those installed), from the device fingerprint."""
    return {k: str(v) for k, v in (fingerprint.get("versions") or {}).items() if v}
