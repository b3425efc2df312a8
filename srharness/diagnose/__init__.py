"""Localise and repair an accuracy drop of a compiled variant (int8 QDQ, fp16) against its fp32 graph.

    result = diagnose(DiagnoseConfig(model="vdsr", scale=4, backend="ort-int8-entropy",
                                     protocol="vdsr-vacc", data_dir="../shared/data", weights="auto"), repair=True)
    result["first_divergent_node"], result["nodes"], result["repair"]["excluded_nodes"]

Localise. The reference is onnxruntime fp32 on the float ONNX graph the variant was made from (for
int8: the `quant_pre_process`ed export that `quantize_static` consumed, so tensor and node names
match; its final output is checked against torch fp32 and the difference reported). Both graphs get
every intermediate tensor exposed with onnxruntime's own `quantization.qdq_loss_debug`
(`modify_model_output_intermediate_tensors`, `collect_activations`, then `create_activation_matching`
for QDQ pairs and `create_weight_matching` for weights; fp16 graphs are matched by tensor name, the
same way). The debug sessions run with graph optimisation off (qdq_loss_debug's default), which is
not what the deployed session runs (ORT fuses QDQ into QLinearConv), so the deployed model is run on
the same inputs and its final output compared with the debug graph's (`debug_graph_check`).
Inputs are the protocol's own model inputs for the dataset's images, one image at a time (bounded
memory: only running sums are kept, never all activations of all images).

Per tensor (named by the node that produces it in the variant graph, the name `nodes_to_exclude` and
`node_block_list` take): cosine similarity, SQNR (dB, onnxruntime's definition), relative L2, max and
mean abs error, NaN/Inf counts in the variant, fp16 overflow count (reference values beyond fp16's
range), plus onnxruntime's local QDQ error (pre- vs post-QDQ) and the node's weight SQNR. Each node's
error is compared with its inputs' (`gain_db`: SQNR lost at this node), which says whether the error
is introduced there or inherited. Thresholds and rules: `Thresholds` (data, with the rule text).

Repair. Candidates (nodes the variant quantized / converted) are ranked by the error they introduce;
a binary search finds the shortest prefix of the ranking whose exclusion passes the figure's rule,
then each kept node is dropped again if the figure still passes without it (Polygraphy's `debug
precision`: bisect, then refine). Every step re-runs the real figure: the protocol's mean PSNR on the
dataset through the deployed (optimised) session, judged by the golden's rule against torch fp32
measured in the same run. Re-runs are bounded: 2 + ceil(log2 n) for the search (before, all
excluded, bisection) plus at most k for the refinement (k = the prefix found), and never more than
`max_runs`.

Calibration. When the smallest node set is most of the graph and the variant is Entropy-calibrated,
the error is not held in a few layers: the ranges are. `calibration_table` compares, per quantized
activation and on the very histograms the calibrator kept, its range with the reference KL search's
(`quantize.reference_kl_threshold`, TVM's, which onnxruntime's omits one line of) and with the
observed range, and says how much of the data each clips. The repair then re-runs the real figure
with the reference ranges (onnxruntime's `TensorQuantOverrides`), searches the smallest set of
tensors that needs them (the same bisect-and-refine), and writes the overrides file.
"""

from __future__ import annotations

from .calibration import (  # noqa: F401
    ORT_KL_NOTE, calibration_table, quantized_activations, write_calibration_fix)
from .localisation import localise  # noqa: F401
from .metrics import (  # noqa: F401
    DIAGNOSABLE_BACKENDS, FP16_BACKENDS, FP16_MAX, INT8_BACKENDS, DiagnoseError,
    ErrorAccumulator, NodeError, Thresholds, judge_nodes, tensor_metrics)
from .pytest_hook import DIAGNOSE_MODES, on_failed_figure  # noqa: F401
from .rendering import (  # noqa: F401
    CALIBRATION_COLUMNS, TABLE_COLUMNS, attach_diagnosis, calibration_table_html,
    calibration_table_text, error_by_depth_png, nodes_table_html, nodes_table_text)
from .repair import (  # noqa: F401
    ATC_NOTE, VAMC_NOTE, RepairResult, Trial, candidate_nodes, rank_candidates,
    repair_bound, search_exclusions, write_fix)
from .run import DiagnoseConfig, diagnose, figure_rule, result_digest, variant_kind  # noqa: F401
