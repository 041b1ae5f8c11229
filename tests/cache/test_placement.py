import itertools

from translator.cache.placement import cache_mount, node_preferences, preferred_affinity


def test_weights_strictly_descend_newest_first() -> None:
    prefs = node_preferences(["n3", "n1", "n3", "n2", "n9"], 3)
    assert [(p.node, p.weight) for p in prefs] == [("n3", 100), ("n1", 66), ("n2", 33)]
    for count in range(1, 101):
        weights = [p.weight for p in node_preferences([f"n{i}" for i in range(count)], 100)]
        assert all(a > b for a, b in itertools.pairwise(weights))
        assert weights[0] == 100 and weights[-1] >= 1


def test_host_path_never_contains_user_text() -> None:
    mount = cache_mount("/var/lib/translator/cache", "ns", "pipe", "/../../etc/passwd")
    assert mount.host_path.startswith("/var/lib/translator/cache/ns/pipe/")
    assert ".." not in mount.host_path and "etc" not in mount.host_path
    assert mount.container_path == "/../../etc/passwd"  # the container side is the user's path
    other = cache_mount("/var/lib/translator/cache", "ns", "pipe", "/root/.m2")
    assert other.host_path != mount.host_path


def test_affinity_terms_are_preferred_hostname_terms() -> None:
    terms = preferred_affinity(node_preferences(["a"], 3))
    assert terms == [{"weight": 100, "preference": {"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["a"]}]}}]
