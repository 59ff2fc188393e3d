package pgsvc.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.util.List;

/**
 * Frames typed messages (Byte1 type, Int32 length including itself, body) on either side of the pooler.
 *
 * <p>Each decode emits one <em>batch</em>: a retained slice of the cumulation covering every complete frame that
 * is available, back to back, without copying. A partial trailing frame stays in the cumulation until the rest
 * arrives. The type byte is not checked (client and server streams use different alphabets) and no body is parsed.
 *
 * <p>Walk the frames of a batch in place, without allocating:
 * <pre>{@code
 * for (int i = batch.readerIndex(); i < batch.writerIndex(); i += FrameDecoder.frameLength(batch, i)) {
 *     byte type = batch.getByte(i);
 *     // body: FrameDecoder.bodyIndex(i), FrameDecoder.bodyLength(batch, i) bytes
 * }
 * }</pre>
 *
 * <p>Buffers: whoever receives a batch owns it and must release it (or pass it on to {@code write()}, which takes
 * ownership). After a {@link ProtocolException} all further input is discarded.
 */
public final class FrameDecoder extends ByteToMessageDecoder {

    /** Suggested pipeline name; {@link StartupDecoder} installs its replacement under it. */
    public static final String NAME = "frameDecoder";

    /** Type byte plus the length field. */
    public static final int HEADER_LENGTH = 5;

    /** PostgreSQL's own ceiling: MaxAllocSize - 1, the largest message the server can build or accept. */
    public static final int DEFAULT_MAX_FRAME_LENGTH = 0x3FFF_FFFF - 1;

    private final int maxFrameLength;
    private boolean failed;

    public FrameDecoder() {
        this(DEFAULT_MAX_FRAME_LENGTH);
    }

    /** @param maxFrameLength largest accepted value of a frame's length field (which counts itself, not the type) */
    public FrameDecoder(int maxFrameLength) {
        checkMaxFrameLength(maxFrameLength);
        this.maxFrameLength = maxFrameLength;
        // A read that ends inside a frame leaves its tail here; the next read joins it as a component rather than
        // being copied behind it, so that a large result streams through without a copy of every read.
        setCumulator(COMPOSITE_CUMULATOR);
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
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (failed) {
            in.skipBytes(in.readableBytes());
            return;
        }
        int start = in.readerIndex();
        int limit = in.writerIndex();
        int index = start;
        // Headers are checked as soon as they arrive, also the one of a frame still incomplete: an oversized
        // length is refused before any of its body is buffered.
        while (limit - index >= HEADER_LENGTH) {
            int length = in.getInt(index + 1);
            if (length < 4 || length > maxFrameLength) {
                if (index > start) {
                    // Deliver the good frames first; the next call fails on this header, so the peer's messages
                    // are acted on in the order it sent them, as PgBouncer would.
                    break;
                }
                throw fail(in, length < 4
                        ? "bad packet header: '" + ByteBufUtil.hexDump(in, index, HEADER_LENGTH) + "'"
                        : "oversized packet: type '" + (char) (in.getByte(index) & 0xFF) + "' length " + length
                                + " exceeds " + maxFrameLength);
            }
            if (limit - index - 1 < length) {
                break;
            }
            index += 1 + length;
        }
        if (index > start) {
            out.add(in.retainedSlice(start, index - start));
            in.readerIndex(index);
        }
    }

    private ProtocolException fail(ByteBuf in, String message) {
        failed = true;
        in.skipBytes(in.readableBytes());
        return new ProtocolException(message);
    }
}
