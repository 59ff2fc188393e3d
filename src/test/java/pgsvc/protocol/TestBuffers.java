package pgsvc.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.embedded.EmbeddedChannel;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Test input built from the pooled allocator, which Netty's leak detector tracks (unpooled heap buffers are not
 * tracked, so a leak of one would go unnoticed).
 */
final class TestBuffers {

    private TestBuffers() {
    }

    static ByteBuf buffer(byte[] bytes) {
        return ByteBufAllocator.DEFAULT.buffer(bytes.length).writeBytes(bytes);
    }

    static ByteBuf buffer() {
        return ByteBufAllocator.DEFAULT.buffer();
    }

    static byte[] hex(String hex) {
        return ByteBufUtil.decodeHexDump(hex.replace(" ", ""));
    }

    /** A typed frame: type, int32 length counting itself, body. */
    static byte[] frame(char type, byte[] body) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(type);
        writeInt(out, body.length + 4);
        out.writeBytes(body);
        return out.toByteArray();
    }

    /** A frame whose body is a NUL-terminated string, such as Query. */
    static byte[] frame(char type, String cString) {
        return frame(type, cString(cString));
    }

    /** An untyped startup packet: int32 length counting itself, int32 code, body. */
    static byte[] startupPacket(int code, byte[] body) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        writeInt(out, body.length + 8);
        writeInt(out, code);
        out.writeBytes(body);
        return out.toByteArray();
    }

    static byte[] cString(String s) {
        return concat(s.getBytes(StandardCharsets.UTF_8), new byte[] {0});
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }

    static byte[] bytes(ByteBuf buf) {
        return ByteBufUtil.getBytes(buf);
    }

    /** Writes each byte as its own read, the worst case for a decoder's bookkeeping. */
    static void writeByteAtATime(EmbeddedChannel channel, byte[] bytes) {
        for (byte b : bytes) {
            channel.writeInbound(buffer(new byte[] {b}));
        }
    }

    /** Reads every pending inbound batch, releasing each, and returns their bytes concatenated. */
    static byte[] drainBatches(EmbeddedChannel channel) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (ByteBuf batch; (batch = channel.readInbound()) != null; ) {
            try {
                out.writeBytes(bytes(batch));
            } finally {
                batch.release();
            }
        }
        return out.toByteArray();
    }

    private static void writeInt(ByteArrayOutputStream out, int value) {
        out.write(value >>> 24);
        out.write(value >>> 16);
        out.write(value >>> 8);
        out.write(value);
    }
}
