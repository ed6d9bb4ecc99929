"""AASIST (Jung et al., ICASSP 2022) for inference: raw 16 kHz waveform in, (spoof, bona fide) logits out.

Written here from the paper and the published configurations, with the module and parameter names
the authors' state dicts use (clovaai/aasist, MIT), so their two files load strictly:

1. a fixed band-pass front end: 70 mel-spaced sinc filters of 129 taps (Hamming-windowed), whose
   rectified output, max-pooled 3x3, is a 23-band spectrogram-like map (no learnt parameters, so
   nothing of it is in the file);
2. six residual convolution stages over (band, time), each pooling time by 3: 64600 samples end as
   23 spectral x 29 temporal positions;
3. a spectral and a temporal graph (one node per band, one per time step) with graph attention and
   top-k node pooling each;
4. two parallel branches of heterogeneous graph attention over both node types and a master node,
   combined by an element-wise max, read out as max |.| and mean per node type plus the master node,
   and a linear layer to two logits. Index `BONA_FIDE` is the class the authors rank by.

Only the eval-mode function is here: dropout, the training-time frequency mask and the
authors' batch-norm-then-discard in stages 2-6 (their `bn1` is computed and overwritten, so the
published weights were trained without it) have no effect at inference and are left out; `bn1`
is still a module so the files load strictly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 16_000
WINDOW_SAMPLES = 64_600  # the authors' nb_samp: about 4.04 s, the length every file was trained and evaluated at
BONA_FIDE = 1  # the logit the authors score by (their training labels: 1 = bona fide, 0 = spoof)
SPOOF = 0


@dataclass(frozen=True)
class AasistConfig:
    """What shapes one published network. The authors' `d_args`, renamed; `filts[1:]` is `stages`."""

    name: str
    stages: tuple[tuple[int, int], ...]  # (in, out) channels of each residual stage
    graph_dims: tuple[int, int]  # node features of the spectral/temporal graphs, then of the heterogeneous graphs
    pool_ratios: tuple[float, float, float]  # share of nodes kept: spectral graph, temporal graph, heterogeneous graphs
    temperatures: tuple[float, float, float]  # attention temperature: spectral, temporal, heterogeneous
    sinc_filters: int = 70
    sinc_taps: int = 129  # the configs say 128; the authors' filter bank rounds an even length up to odd (symmetric filters)

    @property
    def spectral_nodes(self) -> int:
        return self.sinc_filters // 3  # the 3x3 max pool after the filter bank; the stages keep the band axis


AASIST_CONFIG = AasistConfig(
    name="AASIST",
    stages=((1, 32), (32, 32), (32, 64), (64, 64), (64, 64), (64, 64)),
    graph_dims=(64, 32),
    pool_ratios=(0.5, 0.7, 0.5),
    temperatures=(2.0, 2.0, 100.0),
)
AASIST_L_CONFIG = AasistConfig(
    name="AASIST-L",
    stages=((1, 32), (32, 32), (32, 24), (24, 24), (24, 24), (24, 24)),
    graph_dims=(24, 32),
    pool_ratios=(0.4, 0.5, 0.7),
    temperatures=(2.0, 2.0, 100.0),
)
CONFIGS = (AASIST_CONFIG, AASIST_L_CONFIG)


def config_from_state_dict(state: dict[str, torch.Tensor]) -> AasistConfig:
    """The published configuration whose shapes `state` has. Channel and graph widths are read off the
    tensors; pooling ratios and temperatures leave no trace in a state dict, so they come from the
    published variant with those widths. Raises ValueError for any other shape."""
    try:
        stages = tuple((int(state[f"encoder.{i}.0.conv1.weight"].shape[1]), int(state[f"encoder.{i}.0.conv1.weight"].shape[0])) for i in range(6))
        graph_dims = (int(state["GAT_layer_S.proj_with_att.weight"].shape[0]), int(state["HtrgGAT_layer_ST11.proj_with_att.weight"].shape[0]))
        spectral_nodes = int(state["pos_S"].shape[1])
    except (KeyError, IndexError, AttributeError):
        raise ValueError("not an AASIST state dict (its encoder, graph or position tensors are missing)") from None
    for config in CONFIGS:
        if config.stages == stages and config.graph_dims == graph_dims and config.spectral_nodes == spectral_nodes:
            return config
    raise ValueError(f"no published AASIST variant has stages {stages}, graph widths {graph_dims} and {spectral_nodes} spectral nodes")


def sinc_filter_bank(filters: int, taps: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(filters, taps) float64 band-pass impulse responses: ideal band-pass filters (difference of two
    low-pass sincs) between band edges equally spaced on the mel scale from 0 Hz to Nyquist,
    Hamming-windowed. Fixed, not learnt: AASIST's front end is RawNet2's sinc layer with frozen bands."""
    nyquist_mel = 2595 * np.log10(1 + (sample_rate // 2) / 700)
    edges = 700 * (10 ** (np.linspace(0, nyquist_mel, filters + 1) / 2595) - 1)
    t = np.arange(taps) - (taps - 1) / 2

    def low_pass(cutoff: np.ndarray) -> np.ndarray:
        return (2 * cutoff[:, None] / sample_rate) * np.sinc(2 * cutoff[:, None] * t[None, :] / sample_rate)

    return (low_pass(edges[1:]) - low_pass(edges[:-1])) * np.hamming(taps)[None, :]


def max_pool(x: torch.Tensor, kernel: tuple[int, int]) -> torch.Tensor:
    """`F.max_pool2d(x, kernel)` (stride = kernel, no padding): the maximum of the kernel's strided
    views, the same values 4-6x faster on CPU than max_pool2d, which also writes every maximum's index."""
    rows, columns = kernel
    height, width = x.shape[-2] // rows * rows, x.shape[-1] // columns * columns
    views = [x[..., i:height:rows, j:width:columns] for i in range(rows) for j in range(columns)]
    pooled = views[0]
    for view in views[1:]:
        pooled = torch.maximum(pooled, view)
    return pooled


class SincFrontEnd(nn.Module):
    """Waveform (B, samples) to the rectified band map (B, 1, filters // 3, frames), max-pooled 3x3."""

    def __init__(self, filters: int, taps: int):
        super().__init__()
        bank = torch.from_numpy(sinc_filter_bank(filters, taps)).float().unsqueeze(1)
        self.register_buffer("bank", bank, persistent=False)  # derived, so not stored in the files

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        bands = F.conv1d(waveform.unsqueeze(1), self.bank).unsqueeze(1)
        return max_pool(bands.abs(), (3, 3))


class ResidualStage(nn.Module):
    """conv(2x3) -> BN -> SELU -> conv(2x3), plus the input (through a 1x3 conv where widths differ),
    then time pooled by 3. The band axis keeps its size (+1 row of padding, then a 2-row kernel)."""

    def __init__(self, channels_in: int, channels_out: int, first: bool):
        super().__init__()
        if not first:
            self.bn1 = nn.BatchNorm2d(channels_in)  # in the files, unused by the published function (module docstring)
        self.conv1 = nn.Conv2d(channels_in, channels_out, kernel_size=(2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, kernel_size=(2, 3), padding=(0, 1))
        self.conv_downsample = nn.Conv2d(channels_in, channels_out, kernel_size=(1, 3), padding=(0, 1)) if channels_in != channels_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.conv_downsample is None else self.conv_downsample(x)
        out = self.conv2(F.selu(self.bn2(self.conv1(x))))
        return max_pool(out + residual, (1, 3))


def _pairwise_products(nodes: torch.Tensor) -> torch.Tensor:
    """(B, N, D) -> (B, N, N, D): element-wise product of every pair of nodes."""
    return nodes.unsqueeze(2) * nodes.unsqueeze(1)


def _xavier_column(size: int) -> nn.Parameter:
    weight = torch.empty(size, 1)
    nn.init.xavier_normal_(weight)
    return nn.Parameter(weight)


def _batch_norm_nodes(bn: nn.BatchNorm1d, nodes: torch.Tensor) -> torch.Tensor:
    """Batch norm per feature over every node of every example."""
    return bn(nodes.reshape(-1, nodes.shape[-1])).view_as(nodes)


class GraphAttention(nn.Module):
    """One graph-attention layer over a fully connected graph of (B, N, D) nodes.

    Edge (i, j) scores w . tanh(W (n_i * n_j)) / temperature, softmax-normalised over j; node i's
    update is its attention-weighted sum over all nodes (itself included) plus its own projection,
    then batch norm and SELU."""

    def __init__(self, dim_in: int, dim_out: int, temperature: float):
        super().__init__()
        self.temperature = temperature
        self.att_proj = nn.Linear(dim_in, dim_out)
        self.att_weight = _xavier_column(dim_out)
        self.proj_with_att = nn.Linear(dim_in, dim_out)
        self.proj_without_att = nn.Linear(dim_in, dim_out)
        self.bn = nn.BatchNorm1d(dim_out)

    def forward(self, nodes: torch.Tensor) -> torch.Tensor:
        scores = (torch.tanh(self.att_proj(_pairwise_products(nodes))) @ self.att_weight).squeeze(-1)
        attention = torch.softmax(scores / self.temperature, dim=-1)
        updated = self.proj_with_att(attention @ nodes) + self.proj_without_att(nodes)
        return F.selu(_batch_norm_nodes(self.bn, updated))


class HeterogeneousGraphAttention(nn.Module):
    """Graph attention over two node types (temporal, spectral) and a master node.

    Each type is first projected into a shared space; edge scores use one weight vector within the
    temporal nodes, one within the spectral nodes and one across the types. The master node attends
    to every node (weight `att_weightM`) and is updated by its own pair of projections."""

    def __init__(self, dim_in: int, dim_out: int, temperature: float):
        super().__init__()
        self.temperature = temperature
        self.proj_type1 = nn.Linear(dim_in, dim_in)
        self.proj_type2 = nn.Linear(dim_in, dim_in)
        self.att_proj = nn.Linear(dim_in, dim_out)
        self.att_projM = nn.Linear(dim_in, dim_out)
        self.att_weight11 = _xavier_column(dim_out)
        self.att_weight22 = _xavier_column(dim_out)
        self.att_weight12 = _xavier_column(dim_out)
        self.att_weightM = _xavier_column(dim_out)
        self.proj_with_att = nn.Linear(dim_in, dim_out)
        self.proj_without_att = nn.Linear(dim_in, dim_out)
        self.proj_with_attM = nn.Linear(dim_in, dim_out)
        self.proj_without_attM = nn.Linear(dim_in, dim_out)
        self.bn = nn.BatchNorm1d(dim_out)

    def forward(self, temporal: torch.Tensor, spectral: torch.Tensor, master: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        count_t = temporal.shape[1]
        nodes = torch.cat([self.proj_type1(temporal), self.proj_type2(spectral)], dim=1)

        hidden = torch.tanh(self.att_proj(_pairwise_products(nodes)))
        weights = torch.cat([self.att_weight11, self.att_weight22, self.att_weight12], dim=1)
        by_weight = hidden @ weights  # (B, N, N, 3): each edge scored with each of the three weight vectors
        is_spectral = torch.arange(nodes.shape[1], device=nodes.device) >= count_t
        same_type = is_spectral[:, None] == is_spectral[None, :]
        choice = torch.where(same_type, is_spectral[:, None].long(), 2)  # 0: temporal pair, 1: spectral pair, 2: across
        scores = by_weight.gather(-1, choice.expand(nodes.shape[0], -1, -1).unsqueeze(-1)).squeeze(-1)
        attention = torch.softmax(scores / self.temperature, dim=-1)

        master_scores = torch.tanh(self.att_projM(nodes * master)) @ self.att_weightM  # (B, N, 1)
        master_attention = torch.softmax(master_scores / self.temperature, dim=1)
        master = self.proj_with_attM(master_attention.transpose(1, 2) @ nodes) + self.proj_without_attM(master)

        updated = self.proj_with_att(attention @ nodes) + self.proj_without_att(nodes)
        updated = F.selu(_batch_norm_nodes(self.bn, updated))
        return updated[:, :count_t], updated[:, count_t:], master


class TopKNodePool(nn.Module):
    """Keeps the `ratio` share of nodes (at least one) with the highest sigmoid(gate), each scaled by its gate."""

    def __init__(self, ratio: float, dim: int):
        super().__init__()
        self.ratio = ratio
        self.proj = nn.Linear(dim, 1)

    def forward(self, nodes: torch.Tensor) -> torch.Tensor:
        gates = torch.sigmoid(self.proj(nodes))
        keep = max(int(nodes.shape[1] * self.ratio), 1)
        index = torch.topk(gates, keep, dim=1).indices.expand(-1, -1, nodes.shape[-1])
        return torch.gather(nodes * gates, 1, index)


class AasistNet(nn.Module):
    """The whole network; `forward` maps (B, samples) float waveforms in [-1, 1] to (B, 2) logits."""

    def __init__(self, config: AasistConfig):
        super().__init__()
        self.config = config
        width = config.stages[-1][1]
        graph, hetero = config.graph_dims
        spectral_ratio, temporal_ratio, hetero_ratio = config.pool_ratios
        spectral_temperature, temporal_temperature, hetero_temperature = config.temperatures

        self.front_end = SincFrontEnd(config.sinc_filters, config.sinc_taps)
        self.first_bn = nn.BatchNorm2d(1)
        # One-stage Sequentials inside a Sequential: the files' keys are encoder.<stage>.0.<layer>.
        self.encoder = nn.Sequential(*(nn.Sequential(ResidualStage(c_in, c_out, first=i == 0)) for i, (c_in, c_out) in enumerate(config.stages)))
        self.pos_S = nn.Parameter(torch.zeros(1, config.spectral_nodes, width))  # learnt position embedding of the bands
        self.master1 = nn.Parameter(torch.zeros(1, 1, graph))
        self.master2 = nn.Parameter(torch.zeros(1, 1, graph))
        self.GAT_layer_S = GraphAttention(width, graph, spectral_temperature)
        self.GAT_layer_T = GraphAttention(width, graph, temporal_temperature)
        self.HtrgGAT_layer_ST11 = HeterogeneousGraphAttention(graph, hetero, hetero_temperature)
        self.HtrgGAT_layer_ST12 = HeterogeneousGraphAttention(hetero, hetero, hetero_temperature)
        self.HtrgGAT_layer_ST21 = HeterogeneousGraphAttention(graph, hetero, hetero_temperature)
        self.HtrgGAT_layer_ST22 = HeterogeneousGraphAttention(hetero, hetero, hetero_temperature)
        self.pool_S = TopKNodePool(spectral_ratio, graph)
        self.pool_T = TopKNodePool(temporal_ratio, graph)
        self.pool_hS1 = TopKNodePool(hetero_ratio, hetero)
        self.pool_hT1 = TopKNodePool(hetero_ratio, hetero)
        self.pool_hS2 = TopKNodePool(hetero_ratio, hetero)
        self.pool_hT2 = TopKNodePool(hetero_ratio, hetero)
        self.out_layer = nn.Linear(5 * hetero, 2)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        features = self.encoder(F.selu(self.first_bn(self.front_end(waveform))))  # (B, C, bands, frames)
        magnitude = features.abs()
        spectral = magnitude.amax(dim=3).transpose(1, 2) + self.pos_S  # a node per band: max over time
        temporal = magnitude.amax(dim=2).transpose(1, 2)  # a node per frame: max over bands
        spectral = self.pool_S(self.GAT_layer_S(spectral))
        temporal = self.pool_T(self.GAT_layer_T(temporal))

        t1, s1, m1 = self._branch(temporal, spectral, self.master1, self.HtrgGAT_layer_ST11, self.HtrgGAT_layer_ST12, self.pool_hT1, self.pool_hS1)
        t2, s2, m2 = self._branch(temporal, spectral, self.master2, self.HtrgGAT_layer_ST21, self.HtrgGAT_layer_ST22, self.pool_hT2, self.pool_hS2)
        temporal, spectral, master = torch.maximum(t1, t2), torch.maximum(s1, s2), torch.maximum(m1, m2)

        readout = [temporal.abs().amax(dim=1), temporal.mean(dim=1), spectral.abs().amax(dim=1), spectral.mean(dim=1), master.squeeze(1)]
        return self.out_layer(torch.cat(readout, dim=1))

    @staticmethod
    def _branch(temporal, spectral, master, first, second, pool_temporal, pool_spectral):
        """One inference path: heterogeneous attention, pooling, then a second layer added residually."""
        temporal, spectral, master = first(temporal, spectral, master)
        temporal, spectral = pool_temporal(temporal), pool_spectral(spectral)
        d_temporal, d_spectral, d_master = second(temporal, spectral, master)
        return temporal + d_temporal, spectral + d_spectral, master + d_master
