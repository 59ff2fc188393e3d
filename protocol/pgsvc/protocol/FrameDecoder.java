package pgsvc.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.ByteToMessageDecoder;

/**
 * Frames typed messages (Byte1 type, Int32 length including itself, body) on either side of the pooler.
 *
 * <p>Each read emits one <em>batch</em>: every complete frame available, back to back, without copying. A read that
 * ends on a frame boundary, as nearly every read of a request or a short result does, is passed on as it is; else the
 * batch is a retained slice and the partial trailing frame waits for the rest. The type byte is not checked (client
 * and server streams use different alphabets) and no body is parsed.
 *
 * <p>Walk the frames of a batch in place, without allocating:
 * <pre>{@code
 * for (int i = batch.readerIndex(); i < batch.writerIndex(); i += FrameDecoder.frameLength(batch, i)) {
 *     byte type = batch.getByte(i);
 *     // body: FrameDecoder.bodyIndex(i), FrameDecoder.bodyLength(batch, i) bytes
 * }
 * }</pre>
 *
 * <p>Not a {@code ByteToMessageDecoder}: with one batch per read there is nothing for its output list, re-entry
 * guard and per-read bookkeeping to do, and they were a tenth of the pooler's own CPU time per transaction (see
 * perf/RESULTS.md). A bad header is raised as a {@link ProtocolException} through {@code exceptionCaught}, after the
 * good frames before it; all further input is then discarded.
 *
 * <p>Buffers: whoever receives a batch owns it and must release it (or pass it on to {@code write()}, which takes
 * ownership).
 */
public final class FrameDecoder extends ChannelInboundHandlerAdapter {

    /** Suggested pipeline name; {@link StartupDecoder} installs its replacement under it. */
    public static final String NAME = "frameDecoder";

    /** Type byte plus the length field. */
    public static final int HEADER_LENGTH = 5;

    /** PostgreSQL's own ceiling: MaxAllocSize - 1, the largest message the server can build or accept. */
    public static final int DEFAULT_MAX_FRAME_LENGTH = 0x3FFF_FFFF - 1;

    private final int maxFrameLength;
    /** Bytes read but not yet passed on: the start of a frame whose rest has not arrived. */
    private ByteBuf partial;
    private boolean failed;
    /** Whether bytes came in since the last read completed, and whether any were passed on. */
    private boolean readSome;
    private boolean passedOn;

    public FrameDecoder() {
        this(DEFAULT_MAX_FRAME_LENGTH);
    }

    /** @param maxFrameLength largest accepted value of a frame's length field (which counts itself, not the type) */
    public FrameDecoder(int maxFrameLength) {
        checkMaxFrameLength(maxFrameLength);
        this.maxFrameLength = maxFrameLength;
    }

    static void checkMaxFrameLength(int maxFrameLength) {
        if (maxFrameLength < 4) {
            throw new IllegalArgumentException("maxFrameLength must be at least 4: " + maxFrameLength);
        }
    }

    /** Length of the frame starting at {@code index}, type byte included: the step to the next frame. */
    public static int frameLength(ByteBuf buf, int index) {
        return 1 + buf.getInt(index + 1);
    }

    /** Index of the first body byte of the frame starting at {@code index}. */
    public static int bodyIndex(int index) {
        return index + HEADER_LENGTH;
    }

    /** Body length of the frame starting at {@code index}. */
    public static int bodyLength(ByteBuf buf, int index) {
        return buf.getInt(index + 1) - 4;
    }

    /** Number of frames in a batch; walks it, so meant for tests and diagnostics rather than the data path. */
    public static int frameCount(ByteBuf batch) {
        int count = 0;
        for (int i = batch.readerIndex(); i < batch.writerIndex(); i += frameLength(batch, i)) {
            count++;
        }
        return count;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf read)) {
            ctx.fireChannelRead(msg);
            return;
        }
        readSome = true;
        if (failed) {
            read.release();
            return;
        }
        ByteBuf in;
        if (partial == null) {
            in = read;
        } else {
            // The tail of the last read and this one are joined as components rather than copied, so that a large
            // result streams through without a copy of every read.
            in = ByteToMessageDecoder.COMPOSITE_CUMULATOR.cumulate(ctx.alloc(), partial, read);
            partial = null;
        }
        int start = in.readerIndex();
        int limit = in.writerIndex();
        int index = start;
        String error = null;
        // Headers are checked as soon as they arrive, also the one of a frame still incomplete: an oversized
        // length is refused before any of its body is buffered.
        while (limit - index >= HEADER_LENGTH) {
            int length = in.getInt(index + 1);
            if (length < 4 || length > maxFrameLength) {
                error = length < 4
                        ? "bad packet header: '" + ByteBufUtil.hexDump(in, index, HEADER_LENGTH) + "'"
                        : "oversized packet: type '" + (char) (in.getByte(index) & 0xFF) + "' length " + length
                                + " exceeds " + maxFrameLength;
                break;
            }
            if (limit - index - 1 < length) {
                break;
            }
            index += 1 + length;
        }
        ByteBuf batch;
        if (error != null) {
            failed = true;
            batch = index > start ? in.retainedSlice(start, index - start) : null;
            in.release();
        } else if (index == limit) {
            batch = in;
        } else {
            batch = index > start ? in.retainedSlice(start, index - start) : null;
            in.readerIndex(index);
            partial = in;
            if (in instanceof CompositeByteBuf composite && composite.refCnt() == 1) {
                composite.discardReadComponents();
            }
        }
        if (batch != null) {
            passedOn = true;
            ctx.fireChannelRead(batch);
        }
        if (error != null) {
            // The good frames first, then the failure: the peer's messages are acted on in the order it sent them,
            // as PgBouncer would.
            ctx.fireExceptionCaught(new ProtocolException(error));
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        // With auto-read off, bytes that made no whole frame would otherwise leave the connection waiting for a read
        // nobody asks for.
        if (readSome && !passedOn && !ctx.channel().config().isAutoRead()) {
            ctx.read();
        }
        readSome = false;
        passedOn = false;
        ctx.fireChannelReadComplete();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        releasePartial();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        releasePartial();
    }

    private void releasePartial() {
        ByteBuf p = partial;
        partial = null;
        if (p != null) {
            p.release();
        }
    }
}
