"""Hosts and faults that exist: the backends (compose, netns), the faults applied in a host's
namespace, ownership of everything a run makes, stopping, the box, other kernels."""
