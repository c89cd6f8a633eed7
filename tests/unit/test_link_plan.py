"""The choice between netem and the fallbacks, for both kinds of kernel, without either."""

import pytest
from socklab.errors import FaultUnsupported
from socklab.scenario.model import LinkFault
from socklab.testbed.faults.link import Plan, netem_options, plan
from socklab.testbed.probe import Capabilities

WITH_NETEM = Capabilities(netem=True, nftables=True, nfqueue=True, tbf=True)
WITHOUT_NETEM = Capabilities(netem=False, nftables=True, nfqueue=True, tbf=True)
BARE = Capabilities(netem=False, nftables=False, nfqueue=False, tbf=False)


def test_netem_kernel_applies_everything_with_one_netem_qdisc() -> None:
    spec = LinkFault(network="lan2", loss=10, delay=20, jitter=5, reorder=25)
    assert plan(spec, WITH_NETEM) == Plan(netem=("loss", "delay", "jitter", "reorder"))


def test_without_netem_loss_goes_to_nftables_and_delay_to_the_delayer() -> None:
    chosen = plan(LinkFault(network="lan2", loss=10, delay=20, jitter=5), WITHOUT_NETEM)
    assert chosen == Plan(nftables_loss=True, nfqueue_delay=True)
    assert "nftables" in chosen.describe() and "NFQUEUE" in chosen.describe()


def test_without_netem_rate_uses_tbf() -> None:
    assert plan(LinkFault(network="lan1", rate="1mbit"), WITHOUT_NETEM) == Plan(tbf_rate=True)


@pytest.mark.parametrize("field", ["reorder", "duplicate", "corrupt"])
def test_netem_only_impairments_name_the_missing_kernel_feature(field: str) -> None:
    spec = LinkFault.model_validate({"network": "lan1", field: 5})
    with pytest.raises(FaultUnsupported, match="CONFIG_NET_SCH_NETEM") as caught:
        plan(spec, WITHOUT_NETEM)
    assert field in str(caught.value)
    assert "modprobe sch_netem" in caught.value.hint


def test_loss_without_netem_or_nftables_is_refused_before_running() -> None:
    with pytest.raises(FaultUnsupported, match="CONFIG_NFT_NUMGEN"):
        plan(LinkFault(network="lan1", loss=5), BARE)


def test_an_empty_link_fault_is_refused() -> None:
    with pytest.raises(FaultUnsupported, match="at least one impairment"):
        plan(LinkFault(network="lan1"), WITH_NETEM)


def test_netem_options_are_in_pyroute2_units() -> None:
    options = netem_options(LinkFault(network="lan1", delay=20, jitter=2.5, loss=1.5))
    assert options == {"delay": 20000, "jitter": 2500, "loss": 1.5}
