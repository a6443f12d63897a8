"""virtlab: the helper package of the course "Containers vs. Virtual Machines".

Notebooks import this package instead of carrying plumbing. One module per concept:
``probe`` (what this machine can do), ``modes`` (live / embedded / recorded),
``safety`` (names, sizes, deadlines, ownership), ``namespaces``, ``cgroups``,
``minicontainer``, ``lxd``, ``virt``, ``kvm``, ``bench``, ``migration``, ``widgets``,
``checks``, ``cli``.
"""

__version__ = "0.1.0"

#: Every resource the course creates carries this name prefix ...
PREFIX = "vl-"
#: ... and this ownership marker (LXD config key, libvirt metadata namespace, cgroup dir name).
OWNER_KEY = "user.virtlab.owner"
OWNER_VALUE = "containers-vs-vms-course"
LIBVIRT_METADATA_NS = "https://github.com/virtlab-course/virtlab#owner"
