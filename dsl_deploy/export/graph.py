"""ONNX graph facts the precision step needs: the heads' output tail, Q/DQ placement, I/O types (no torch)."""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

# Operators whose outputs are the network's last learned values; everything after them up to a graph output
# (sigmoid, exp of b and sigma, cell offsets, the resize to full resolution) is the output tail, kept FP32.
COMPUTE_OPS = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm"})
QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})


def producers(model: Any) -> dict[str, Any]:
    """Node producing each tensor name."""
    return {out: node for node in model.graph.node for out in node.output}


def output_tail(model: Any, outputs: Iterable[str] | None = None) -> list[str]:
    """Names of the nodes between the last compute nodes (Conv, MatMul, Gemm) and the graph outputs, sorted."""
    made_by = producers(model)
    names = list(outputs) if outputs is not None else [o.name for o in model.graph.output]
    tail: set[str] = set()
    stack = [made_by[t] for t in names if t in made_by]
    while stack:
        node = stack.pop()
        if node.name in tail or node.op_type in COMPUTE_OPS:
            continue
        tail.add(node.name)
        stack.extend(made_by[t] for t in node.input if t in made_by)
    return sorted(tail)


def head_convs(model: Any) -> list[str]:
    """The compute nodes that feed the output tail directly: the heads' last convolutions."""
    made_by = producers(model)
    tail = set(output_tail(model))
    found = {made_by[t].name for node in model.graph.node if node.name in tail for t in node.input
             if t in made_by and made_by[t].op_type in COMPUTE_OPS}
    return sorted(found)


def ensure_node_names(model: Any) -> None:
    """Give every unnamed node a unique name (the precision lists and the quantiser address nodes by name)."""
    used = {n.name for n in model.graph.node if n.name}
    for i, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{i}"
            while name in used:
                name += "_"
            node.name = name
            used.add(name)


def op_counts(model: Any) -> dict[str, int]:
    """Operator type -> number of nodes."""
    return dict(Counter(n.op_type for n in model.graph.node))


def quantized_inputs(model: Any) -> dict[str, list[str]]:
    """For each node fed by a DequantizeLinear, the op type -> node names (where Q/DQ sits)."""
    made_by = producers(model)
    out: dict[str, list[str]] = {}
    for node in model.graph.node:
        if node.op_type in QDQ_OPS:
            continue
        if any(t in made_by and made_by[t].op_type == "DequantizeLinear" for t in node.input):
            out.setdefault(node.op_type, []).append(node.name)
    return out


def io_types(model: Any) -> dict[str, str]:
    """Graph input and output names -> element type names ('FLOAT', 'FLOAT16', 'UINT8', ...)."""
    import onnx

    init = {t.name for t in model.graph.initializer}
    values = [v for v in model.graph.input if v.name not in init] + list(model.graph.output)
    return {v.name: onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type) for v in values}


def activation_zero_points(model: Any) -> set[int]:
    """Distinct zero points of the QuantizeLinear nodes' constant zero points (0 only = symmetric)."""
    from onnx import numpy_helper

    consts = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute:
            consts[node.output[0]] = node.attribute[0].t
    points: set[int] = set()
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" and len(node.input) > 2 and node.input[2] in consts:
            points.update(int(v) for v in numpy_helper.to_array(consts[node.input[2]]).ravel().tolist())
    return points


def quantized_element_types(model: Any) -> set[str]:
    """Element types of the QuantizeLinear zero points ('INT8', 'UINT8'); empty for a graph without Q/DQ."""
    import onnx

    consts = {t.name: t for t in model.graph.initializer}
    types = set()
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" and len(node.input) > 2 and node.input[2] in consts:
            types.add(onnx.TensorProto.DataType.Name(consts[node.input[2]].data_type))
    return types


def topological_sort(model: Any) -> None:
    """Reorder the graph's nodes so that every node follows the producers of its inputs (onnx.checker's rule)."""
    nodes = list(model.graph.node)
    made_by = {out: i for i, node in enumerate(nodes) for out in node.output if out}
    waiting = [sum(1 for t in set(node.input) if t in made_by) for node in nodes]
    users: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        for t in set(node.input):
            if t in made_by:
                users.setdefault(made_by[t], []).append(i)
    ready = [i for i, n in enumerate(waiting) if n == 0]
    order: list[int] = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for j in users.get(i, []):
            waiting[j] -= 1
            if waiting[j] == 0:
                ready.append(j)
    if len(order) != len(nodes):
        raise ValueError("the graph has a cycle")
    del model.graph.node[:]
    model.graph.node.extend(nodes[i] for i in order)


def unquantize_inputs(model: Any, original: Any, nodes: Iterable[str]) -> int:
    """Feed the named nodes the FP32 tensor in front of a Q/DQ pair on their inputs; drop Q/DQ left unused.

    The quantiser also quantises the outputs of the heads' last convolutions; this keeps the tail FP32 from
    the raw logits on. Only an input that is the same tensor as in the `original` FP32 graph is restored (a
    quantiser that folded a ReLU into the quantisation left no FP32 tensor with the ReLU applied). Returns the
    number of inputs rewired.
    """
    made_by = producers(model)
    before = {n.name: list(n.input) for n in original.graph.node}
    names = set(nodes)
    rewired = 0
    for node in model.graph.node:
        if node.name not in names:
            continue
        for k, t in enumerate(node.input):
            dq = made_by.get(t)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            q = made_by.get(dq.input[0])
            if q is None or q.op_type != "QuantizeLinear":
                continue  # a quantised weight, not an activation
            was = before.get(node.name, [])
            if k >= len(was) or was[k] != q.input[0]:
                continue  # not the tensor the FP32 graph fed here
            node.input[k] = q.input[0]
            rewired += 1
    drop_unused(model)
    return rewired


def drop_unused(model: Any) -> None:
    """Remove Q/DQ nodes whose outputs nothing reads (repeatedly), and initialisers nothing reads."""
    outputs = {o.name for o in model.graph.output}
    while True:
        used = {t for n in model.graph.node for t in n.input} | outputs
        dead = [n for n in model.graph.node if n.op_type in QDQ_OPS and not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            model.graph.node.remove(n)
    used = {t for n in model.graph.node for t in n.input} | outputs
    keep = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)


def restore_activations(model: Any, original: Any, nodes: Iterable[str]) -> int:
    """Put back a ReLU in front of the named nodes where the quantiser folded it into a Q/DQ they do not read.

    ONNX Runtime's QDQ quantiser removes a ReLU whose output it quantises with a zero point at the range's low
    end, and renames the producer's output to the ReLU's; a consumer left out of quantisation then reads the
    values before the ReLU. Returns the number of ReLUs put back.
    """
    from onnx import helper

    was_made_by = producers(original)
    made_by = producers(model)
    names = set(nodes)
    added: list[Any] = []
    for node in model.graph.node:
        if node.name not in names:
            continue
        for k, t in enumerate(node.input):
            old, new = was_made_by.get(t), made_by.get(t)
            if old is None or new is None or old.op_type != "Relu" or new.op_type == "Relu":
                continue
            fixed = f"{t}_fp32_relu"
            if fixed not in {o for n in added for o in n.output}:
                added.append(helper.make_node("Relu", [t], [fixed], name=f"{old.name}_fp32"))
            node.input[k] = fixed
    model.graph.node.extend(added)
    return len(added)


def matching(model: Any, patterns: Iterable[str]) -> list[str]:
    """Names of the nodes matching any fnmatch pattern (e.g. '/model/seg_head/*')."""
    from fnmatch import fnmatchcase

    pats = tuple(patterns)
    return sorted(n.name for n in model.graph.node if any(fnmatchcase(n.name, p) for p in pats))
