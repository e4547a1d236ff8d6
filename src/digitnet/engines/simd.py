"""Explicit SIMD vectors for the compiled kernels: one 64-byte register of floats as a Numba value.

A Vec is 16 float32 or 8 float64 lanes (one AVX-512 register; LLVM splits it in two on a machine
with 32-byte registers, in four with 16-byte ones). Numba's loop vectoriser cannot be trusted
with the kernels' central loop, an update of a 16-wide accumulator by one row of layer 0's weights
per nonzero pixel: it either vectorises the loop over the pixels (gathers) or keeps the
accumulator in memory, where it must assume it may alias the weights. Written with these
intrinsics the accumulator stays in a register and each pixel costs one load and one FMA.

    vload(a, i)      the LANES values a[i : i + LANES] of a contiguous 1-D array
    sload(a, i)      the one value a[i] (no wrap-around for negative i: a plain load, which
                     keeps a loop of them free of index arithmetic)
    vstore(a, i, v)  a[i : i + LANES] = v
    vfma(acc, s, w)  acc + s·w, with s a scalar broadcast to every lane
    vfmav(acc, u, v) acc + u·v lane by lane;  vmul(s, w) s·w;  vadd(u, v);  vsub(u, v)
    vsum(v)          the sum of the lanes (a scalar, summed pairwise)
    prefetch(a, i)   ask the cache for the line holding a[i] (no effect on values)

Offsets are in elements and never checked: the kernels keep every row padded to LANES.
"""

from __future__ import annotations

import platform

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

LANES = {np.dtype(np.float32): 16, np.dtype(np.float64): 8}
_LANES = {types.float32: 16, types.float64: 8}


class Vec(types.Type):
    """LANES floats of one dtype in one LLVM vector value."""

    def __init__(self, dtype: types.Float, lanes: int) -> None:
        self.dtype, self.lanes = dtype, lanes
        super().__init__(name=f"Vec({dtype}x{lanes})")


@register_model(Vec)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type: Vec) -> None:
        super().__init__(dmm, fe_type, ir.VectorType(dmm.lookup(fe_type.dtype).get_value_type(), fe_type.lanes))


_CONTRACT = ("contract",)


def _pointer(context, builder, array_type, array, offset):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.gep(data, [offset])


def _broadcast(builder, value, vector_type):
    lanes = vector_type.count
    single = builder.insert_element(ir.Constant(vector_type, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
    return builder.shuffle_vector(single, ir.Constant(vector_type, ir.Undefined), zeros)


@intrinsic
def vload(typingctx, array, offset):
    vec = Vec(array.dtype, _LANES[array.dtype])

    def codegen(context, builder, signature, args):
        pointer = _pointer(context, builder, signature.args[0], args[0], args[1])
        vector_type = context.get_value_type(signature.return_type)
        return builder.load(builder.bitcast(pointer, vector_type.as_pointer()), align=4)

    return vec(array, offset), codegen


@intrinsic
def sload(typingctx, array, offset):
    def codegen(context, builder, signature, args):
        return builder.load(_pointer(context, builder, signature.args[0], args[0], args[1]))

    return array.dtype(array, offset), codegen


@intrinsic
def vstore(typingctx, array, offset, value):
    def codegen(context, builder, signature, args):
        pointer = _pointer(context, builder, signature.args[0], args[0], args[1])
        builder.store(args[2], builder.bitcast(pointer, args[2].type.as_pointer()), align=4)
        return context.get_dummy_value()

    return types.none(array, offset, value), codegen


@intrinsic
def vfma(typingctx, acc, scalar, row):
    def codegen(context, builder, signature, args):
        acc_value, scalar_value, row_value = args
        scalar_value = context.cast(builder, scalar_value, signature.args[1], signature.args[0].dtype)
        product = builder.fmul(_broadcast(builder, scalar_value, acc_value.type), row_value, flags=_CONTRACT)
        return builder.fadd(acc_value, product, flags=_CONTRACT)

    return acc(acc, scalar, row), codegen


@intrinsic
def vmul(typingctx, scalar, row):
    def codegen(context, builder, signature, args):
        scalar_value = context.cast(builder, args[0], signature.args[0], signature.args[1].dtype)
        return builder.fmul(_broadcast(builder, scalar_value, args[1].type), args[1])

    return row(scalar, row), codegen


@intrinsic
def vadd(typingctx, u, v):
    def codegen(context, builder, signature, args):
        return builder.fadd(args[0], args[1])

    return u(u, v), codegen


@intrinsic
def vsum(typingctx, v):
    def codegen(context, builder, signature, args):
        vector = args[0]
        parts = [builder.extract_element(vector, ir.Constant(ir.IntType(32), i)) for i in range(v.lanes)]
        while len(parts) > 1:  # a pairwise tree: the same order every time
            parts = [builder.fadd(parts[i], parts[i + 1]) for i in range(0, len(parts), 2)]
        return parts[0]

    return v.dtype(v), codegen


@intrinsic
def prefetch(typingctx, array, offset):
    def codegen(context, builder, signature, args):
        pointer = builder.bitcast(_pointer(context, builder, signature.args[0], args[0], args[1]),
                                  ir.IntType(8).as_pointer())
        int32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [pointer.type, int32, int32, int32]), "llvm.prefetch.p0i8")
        # read, high temporal locality, data cache
        builder.call(function, [pointer, ir.Constant(int32, 0), ir.Constant(int32, 3), ir.Constant(int32, 1)])
        return context.get_dummy_value()

    return types.none(array, offset), codegen


@intrinsic
def vfmav(typingctx, acc, u, v):
    """acc + u·v, lane by lane."""

    def codegen(context, builder, signature, args):
        product = builder.fmul(args[1], args[2], flags=_CONTRACT)
        return builder.fadd(args[0], product, flags=_CONTRACT)

    return acc(acc, u, v), codegen


@intrinsic
def vsub(typingctx, u, v):
    def codegen(context, builder, signature, args):
        return builder.fsub(args[0], args[1])

    return u(u, v), codegen


# --------------------------------------------------------------------- subnormal numbers
# Adam's moments of a weight whose input is rarely nonzero (an MNIST border pixel) decay by β₁
# every step into the subnormal range (below 1.2e-38), where each operation costs the x86 core
# ~100 cycles: a quarter of Adam's elements there made an epoch 8× slower. The kernels therefore
# run with the SSE control register's flush-to-zero and denormals-are-zero bits set (what
# compilers' -ffast-math does for a whole program), and put the caller's setting back on return.
# The values change by less than 1.2e-38; run to run the results stay bit-identical.
_FLUSH_BITS = (1 << 15) | (1 << 6)  # FTZ | DAZ
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


@intrinsic
def flush_subnormals(typingctx):
    """Set FTZ and DAZ in MXCSR (x86; elsewhere nothing); returns the previous MXCSR value."""

    def codegen(context, builder, signature, args):
        int32 = ir.IntType(32)
        if not _X86:
            return ir.Constant(int32, 0)
        slot = cgutils.alloca_once(builder, int32)
        pointer = builder.bitcast(slot, ir.IntType(8).as_pointer())
        read = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [pointer.type]),
                                              "llvm.x86.sse.stmxcsr")
        write = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [pointer.type]),
                                               "llvm.x86.sse.ldmxcsr")
        builder.call(read, [pointer])
        previous = builder.load(slot)
        builder.store(builder.or_(previous, ir.Constant(int32, _FLUSH_BITS)), slot)
        builder.call(write, [pointer])
        return previous

    return types.int32(), codegen


@intrinsic
def restore_subnormals(typingctx, previous):
    """Put back the MXCSR value flush_subnormals() returned."""

    def codegen(context, builder, signature, args):
        if _X86:
            int32 = ir.IntType(32)
            slot = cgutils.alloca_once(builder, int32)
            builder.store(args[0], slot)
            pointer = builder.bitcast(slot, ir.IntType(8).as_pointer())
            write = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [pointer.type]),
                                                   "llvm.x86.sse.ldmxcsr")
            builder.call(write, [pointer])
        return context.get_dummy_value()

    return types.none(previous), codegen
