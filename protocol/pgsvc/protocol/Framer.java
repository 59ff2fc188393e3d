package pgsvc.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

/**
 * The framing of {@link FrameDecoder}, for a handler that reads raw bytes and frames them itself: the pooler's
 * client and server connections do, which spares every read a hop through one more handler of the pipeline.
 *
 * <p>Each read gives one batch: every complete frame available, back to back, without copying. A read that ends on a
 * frame boundary, as nearly every read of a request or a short result does, is the batch as it is; else the batch is
 * a retained slice and the partial trailing frame waits for the rest. A bad header gives the good frames before it,
 * then {@link #failure()} once; all further input is then released unread.
 *
 * <p>Buffers: {@link #frame} takes the read's reference; the caller owns the batch it returns and must release it (or
 * pass it on to {@code write()}). {@link #release()} lets go of a partial frame when the connection ends. One
 * connection's event loop only.
 */
public final class Framer {
    private final int maxFrameLength;
    /** Bytes read but not yet passed on: the start of a frame whose rest has not arrived. */
    private ByteBuf partial;
    private boolean failed;
    private ProtocolException failure;
    /** Whether bytes came in since the last read completed, and whether a batch came of them. */
    private boolean readSome;
    private boolean framedSome;

    /** @param maxFrameLength largest accepted value of a frame's length field (which counts itself, not the type) */
    public Framer(int maxFrameLength) {
        FrameDecoder.checkMaxFrameLength(maxFrameLength);
        this.maxFrameLength = maxFrameLength;
    }

    /** The complete frames now available, with {@code read} (whose reference this takes); null when there are none. */
    public ByteBuf frame(ByteBufAllocator alloc, ByteBuf read) {
        readSome = true;
        if (failed) {
            read.release();
            return null;
        }
        ByteBuf in;
        if (partial == null) {
            in = read;
        } else {
            // The tail of the last read and this one are joined as components rather than copied, so that a large
            // result streams through without a copy of every read.
            in = ByteToMessageDecoder.COMPOSITE_CUMULATOR.cumulate(alloc, partial, read);
            partial = null;
        }
        int start = in.readerIndex();
        int limit = in.writerIndex();
        int index = start;
        String error = null;
        // Headers are checked as soon as they arrive, also the one of a frame still incomplete: an oversized
        // length is refused before any of its body is buffered.
        while (limit - index >= FrameDecoder.HEADER_LENGTH) {
            int length = in.getInt(index + 1);
            if (length < 4 || length > maxFrameLength) {
                error = length < 4
                        ? "bad packet header: '" + ByteBufUtil.hexDump(in, index, FrameDecoder.HEADER_LENGTH) + "'"
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
            failure = new ProtocolException(error);
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
            framedSome = true;
        }
        return batch;
    }

    /**
     * The bad header the last {@link #frame} call met, to be acted on after the frames it returned (the peer's
     * messages in the order it sent them, as PgBouncer would); null if none. Given once.
     */
    public ProtocolException failure() {
        ProtocolException f = failure;
        failure = null;
        return f;
    }

    /**
     * To be called when a read completes. With auto-read off, bytes that made no whole frame would otherwise leave
     * the connection waiting for a read nobody asks for: this asks for one.
     */
    public void readComplete(ChannelHandlerContext ctx) {
        if (readSome && !framedSome && !ctx.channel().config().isAutoRead()) {
            ctx.read();
        }
        readSome = false;
        framedSome = false;
    }

    /** Lets go of a partial frame; the connection is ending. */
    public void release() {
        ByteBuf p = partial;
        partial = null;
        if (p != null) {
            p.release();
        }
    }
}
