"""Values another system refuses later, checked now: image references, commits, node names.

A run that compiles with `image: alpine:` or a node name with a space fails only when a
kubelet pulls or the API server stores it, long after the author stopped looking. Each check
returns why a value is refused, or None, in the words of the rule it follows.

- Image references and publish tags: the grammar of github.com/distribution/reference
  (`reference.go`'s grammar, `regexp.go`): `name[:tag][@digest]`, `name :=
  [domain '/'] path-component ['/' path-component]*`, path components lowercase
  `[a-z0-9]+` joined by `.`, `_`, `__` or dashes, a domain of DNS-ish components with an
  optional port (or a bracketed IPv6 address), a tag `[\\w][\\w.-]{0,127}`, a digest
  `algorithm:hex` whose hex length the algorithm fixes (opencontainers/go-digest: sha256 64,
  sha384 96, sha512 128), and at most 255 characters of name (`NameTotalLengthMax`).
- Node names: Kubernetes' DNS-1123 subdomain (apimachinery `IsDNS1123Subdomain`: at most
  253 characters of lowercase alphanumerics, `-` and `.`, alphanumeric at both ends of
  each label).
- Commits: 7 to 64 hex digits (an abbreviated SHA-1 up to a full SHA-256).
"""

from __future__ import annotations

import re

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}
NAME_TOTAL_LENGTH_MAX = 255

_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_HEX = re.compile(r"[0-9a-fA-F]{7,64}")
_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def image_problem(ref: str, *, digest: bool = True) -> str | None:
    """Why `ref` is not an image reference (distribution/reference), or None."""
    if not ref:
        return "must not be empty"
    if ref != ref.strip() or any(c.isspace() for c in ref):
        return "contains whitespace"
    if "://" in ref:
        return "an image reference has no scheme (write docker.io/library/alpine, not http://...)"
    match = _REFERENCE.fullmatch(ref)
    if match is None:
        return _why_not(ref, digest=digest)
    name, _tag, dig = match.groups()
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        return f"the repository name is {len(name)} characters; at most {NAME_TOTAL_LENGTH_MAX}"
    if dig is not None:
        if not digest:
            return "a digest (@...) cannot be pushed to; give a tag"
        algorithm, hex_part = dig.split(":", 1)
        wanted = _DIGEST_HEX.get(algorithm)
        if wanted is None:
            return f"digest algorithm {algorithm!r} is not sha256, sha384 or sha512"
        if len(hex_part) != wanted or not re.fullmatch(r"[a-f0-9]+", hex_part):
            return f"a {algorithm} digest is {wanted} lowercase hex digits"
    return None


def _why_not(ref: str, *, digest: bool) -> str:
    name = ref.split("@", 1)[0]
    if "@" in ref:
        dig = ref.split("@", 1)[1]
        if not re.fullmatch(_DIGEST, dig):
            return f"{dig!r} is not a digest (algorithm:hex, e.g. sha256:<64 hex digits>)"
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = name[: len(name) - len(last)] + last.split(":", 1)[0], last.split(":", 1)[1]
        if not tag:
            return "the tag after ':' is empty"
        if not re.fullmatch(_TAG, tag, re.ASCII):
            return f"tag {tag!r} is not valid (letters, digits, '_', '.', '-'; at most 128; not starting with . or -)"
        name = repo
    path = name.split("/", 1)[1] if "/" in name and re.fullmatch(_DOMAIN, name.split("/", 1)[0]) else name
    if path != path.lower():
        return "the repository name must be lowercase"
    return "not an image reference (e.g. alpine:3.20, docker.io/library/alpine, registry:5000/team/app:1)"


def push_tag_problem(tag: str) -> str | None:
    """Why a publishImageConfig tag (`[registry/]name[:tag]`) cannot be pushed, or None."""
    return image_problem(tag, digest=False)


def with_placeholders(value: str) -> str:
    """`me/app:${CICD_EXECUTION_SEQUENCE}` -> `me/app:x0`: variables are checked after they are
    substituted, by the compiler; the rest of the value is checked now."""
    return _VARIABLE.sub("x0", value)


def dns_subdomain_problem(name: str) -> str | None:
    """Why `name` is not a Kubernetes node (DNS-1123 subdomain) name, or None."""
    if not name:
        return "must not be empty"
    if len(name) > 253:
        return f"is {len(name)} characters; at most 253"
    if not _DNS_SUBDOMAIN.fullmatch(name):
        return "must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
    return None


def commit_problem(commit: str) -> str | None:
    """Why `commit` is not a commit id, or None ("" means: the branch's tip)."""
    if commit and not _HEX.fullmatch(commit):
        return "must be 7 to 64 hex digits (a commit SHA)"
    return None


def branch_problem(branch: str) -> str | None:
    if not branch.strip():
        return "must not be empty"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in branch):
        return "must not contain control characters"
    return None
