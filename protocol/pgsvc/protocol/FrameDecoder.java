package pgsvc.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;

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
 *
 * <p>The framing itself is {@link Framer}'s, which a handler that reads raw bytes can also use directly, as the
 * pooler's client and server connections do.
 */
public final class FrameDecoder extends ChannelInboundHandlerAdapter {

    /** Suggested pipeline name; {@link StartupDecoder} installs its replacement under it. */
    public static final String NAME = "frameDecoder";

    /** Type byte plus the length field. */
    public static final int HEADER_LENGTH = 5;

    /** PostgreSQL's own ceiling: MaxAllocSize - 1, the largest message the server can build or accept. */
    public static final int DEFAULT_MAX_FRAME_LENGTH = 0x3FFF_FFFF - 1;

    private final Framer framer;

    public FrameDecoder() {
        this(DEFAULT_MAX_FRAME_LENGTH);
    }

    /** @param maxFrameLength largest accepted value of a frame's length field (which counts itself, not the type) */
    public FrameDecoder(int maxFrameLength) {
        this.framer = new Framer(maxFrameLength);
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
        ByteBuf batch = framer.frame(ctx.alloc(), read);
        if (batch != null) {
            ctx.fireChannelRead(batch);
        }
        ProtocolException failure = framer.failure();
        if (failure != null) {
            ctx.fireExceptionCaught(failure);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        framer.readComplete(ctx);
        ctx.fireChannelReadComplete();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        framer.release();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        framer.release();
    }
}
