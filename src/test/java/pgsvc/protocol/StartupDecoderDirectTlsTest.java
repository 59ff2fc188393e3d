package pgsvc.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static pgsvc.protocol.TestBuffers.buffer;
import static pgsvc.protocol.TestBuffers.cString;
import static pgsvc.protocol.TestBuffers.concat;
import static pgsvc.protocol.TestBuffers.hex;
import static pgsvc.protocol.TestBuffers.startupPacket;

import java.io.ByteArrayOutputStream;
import java.util.List;
import java.util.Map;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

/**
 * Direct TLS (PostgreSQL 17's sslnegotiation=direct) as the startup decoder sees it: a connection whose first byte
 * is a TLS handshake record is handed to the TLS handler it is given, with all bytes read so far, and a fresh
 * decoder behind that handler reads the StartupMessage from inside TLS.
 */
class StartupDecoderDirectTlsTest {
    /** The start of a ClientHello record: handshake (0x16), TLS 1.0 record version, length, ClientHello (0x01). */
    private static final byte[] CLIENT_HELLO = hex("16 0301 0010 01 00000c 0303 000102030405060708");
    private static final byte[] SSL_REQUEST = hex("00000008 04d2162f");
    private static final byte[] STARTUP = startupPacket(Protocol.PROTOCOL_VERSION_3_0, concat(
            cString("user"), cString("alice"), new byte[] {0}));

    /** Stands for the TLS handler: keeps what reaches it, passes nothing on. */
    private static final class Recorder extends ChannelInboundHandlerAdapter {
        final ByteArrayOutputStream seen = new ByteArrayOutputStream();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf b = (ByteBuf) msg;
            try {
                byte[] bytes = new byte[b.readableBytes()];
                b.readBytes(bytes);
                seen.writeBytes(bytes);
            } finally {
                b.release();
            }
        }
    }

    private static EmbeddedChannel channel(Recorder recorder) {
        EmbeddedChannel channel = new EmbeddedChannel();
        channel.pipeline().addLast("startup", new StartupDecoder(Protocol.DEFAULT_MAX_STARTUP_PACKET_LENGTH,
                FrameDecoder.DEFAULT_MAX_FRAME_LENGTH, recorder == null ? null : () -> recorder));
        return channel;
    }

    @Test
    void aClientHelloGoesToTheTlsHandlerWithEveryByteReadSoFar() {
        Recorder recorder = new Recorder();
        EmbeddedChannel channel = channel(recorder);
        channel.writeInbound(buffer(new byte[] {CLIENT_HELLO[0]}));
        assertEquals(List.of(StartupDecoder.TLS_NAME, "startup"), channel.pipeline().names().subList(0, 2));
        assertInstanceOf(StartupDecoder.class, channel.pipeline().get("startup"));
        byte[] rest = java.util.Arrays.copyOfRange(CLIENT_HELLO, 1, CLIENT_HELLO.length);
        channel.writeInbound(buffer(rest));
        assertArrayEquals(CLIENT_HELLO, recorder.seen.toByteArray());
        assertNull(channel.readInbound(), "nothing for the pooler before the handshake is done");

        // What the TLS handler decrypts is read by the decoder behind it.
        channel.pipeline().context(StartupDecoder.TLS_NAME).fireChannelRead(buffer(STARTUP));
        StartupMessage startup = assertInstanceOf(StartupMessage.class, channel.readInbound());
        assertEquals(Map.of("user", "alice"), startup.parameters());
        assertEquals(FrameDecoder.NAME, channel.pipeline().names().get(1));
        channel.finishAndReleaseAll();
    }

    @Test
    void aClientHelloInOneReadArrivesWhole() {
        Recorder recorder = new Recorder();
        EmbeddedChannel channel = channel(recorder);
        channel.writeInbound(buffer(CLIENT_HELLO));
        assertArrayEquals(CLIENT_HELLO, recorder.seen.toByteArray());
        channel.finishAndReleaseAll();
    }

    @Test
    void withoutTlsAClientHelloIsABadPacketHeader() {
        EmbeddedChannel channel = channel(null);
        ProtocolException e = assertThrows(ProtocolException.class, () -> channel.writeInbound(buffer(CLIENT_HELLO)));
        assertTrue(e.getMessage().startsWith("bad packet header: '16030100"), e.getMessage());
        channel.finishAndReleaseAll();
    }

    @Test
    void onlyTheFirstBytesOfAConnectionCanStartDirectTls() {
        Recorder recorder = new Recorder();
        EmbeddedChannel channel = channel(recorder);
        channel.writeInbound(buffer(SSL_REQUEST));
        assertSame(SslRequest.INSTANCE, channel.readInbound());
        // After an SSLRequest answered 'N' the client must send a startup packet, not a ClientHello.
        assertThrows(ProtocolException.class, () -> channel.writeInbound(buffer(CLIENT_HELLO)));
        assertEquals(0, recorder.seen.size());
        channel.finishAndReleaseAll();
    }
}
