package pgsvc.pooler.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.ssl.SslHandler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import pgsvc.pooler.config.Config;
import pgsvc.testing.Await;

/**
 * The SSLRequest exchange with a server, on an EmbeddedChannel standing for PostgreSQL: what is sent, what each
 * answer leads to, and PgBouncer's texts when it fails.
 */
class ServerTlsNegotiatorTest {
    @TempDir
    Path dir;

    /** What the handler behind the negotiation (a pooled server connection) sees. */
    private static final class Behind extends ChannelInboundHandlerAdapter {
        int active;
        final List<Throwable> errors = new ArrayList<>();

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            active++;
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            errors.add(cause);
        }
    }

    private Tls tls(String mode) throws Exception {
        return Tls.load(Config.load(Files.writeString(dir.resolve("p.ini"),
                "[pgbouncer]\nserver_tls_sslmode = " + mode + "\n")));
    }

    private EmbeddedChannel channel(Tls tls, String host, Behind behind) throws Exception {
        EmbeddedChannel ch = new EmbeddedChannel(false, false);
        ServerTlsNegotiator.addTo(ch.pipeline(), tls, host, 5432);
        ch.pipeline().addLast("behind", behind);
        ch.register();
        return ch;
    }

    private static void assertSslRequestSent(EmbeddedChannel ch) {
        ByteBuf out = ch.readOutbound();
        assertNotNull(out, "an SSLRequest");
        try {
            assertEquals(8, out.readableBytes());
            assertEquals(8, out.getInt(0));
            assertEquals(80877103, out.getInt(4));
        } finally {
            out.release();
        }
    }

    @Test
    void preferGoesOnInPlaintextAfterN() throws Exception {
        Behind behind = new Behind();
        EmbeddedChannel ch = channel(tls("prefer"), "127.0.0.1", behind);
        assertSslRequestSent(ch);
        assertEquals(0, behind.active, "no StartupMessage before the answer");
        ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {'N'}));
        assertEquals(1, behind.active);
        assertNull(ch.pipeline().get(ServerTlsNegotiator.class), "the negotiation left the pipeline");
        assertNull(ch.pipeline().get(SslHandler.class));
        assertTrue(behind.errors.isEmpty());
        assertFalse(ch.finishAndReleaseAll());
    }

    @Test
    void requireRefusesN() throws Exception {
        Behind behind = new Behind();
        EmbeddedChannel ch = channel(tls("require"), "127.0.0.1", behind);
        assertSslRequestSent(ch);
        ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {'N'}));
        assertEquals(0, behind.active);
        assertEquals("server refused SSL", behind.errors.get(0).getMessage());
        assertFalse(ch.isOpen());
        ch.finishAndReleaseAll();
    }

    @Test
    void bytesWithTheAnswerAndOtherAnswersAreRefused() throws Exception {
        Behind behind = new Behind();
        EmbeddedChannel ch = channel(tls("prefer"), "127.0.0.1", behind);
        assertSslRequestSent(ch);
        ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {'S', 0x16, 0x03}));
        assertEquals("received unencrypted data after SSL response", behind.errors.get(0).getMessage());
        assertEquals(0, behind.active);
        ch.finishAndReleaseAll();

        Behind other = new Behind();
        ch = channel(tls("prefer"), "127.0.0.1", other);
        assertSslRequestSent(ch);
        ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {'E'}));
        assertEquals("bad sslreq answer", other.errors.get(0).getMessage());
        ch.finishAndReleaseAll();
    }

    @Test
    void sStartsTheHandshakeInFrontAndHoldsTheStartupBack() throws Exception {
        Behind behind = new Behind();
        Tls tls = tls("verify-full");
        EmbeddedChannel ch = channel(tls, "db.example.com", behind);
        assertSslRequestSent(ch);
        ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {'S'}));
        // With no file of the user's the context is built aside; the handshake starts once it is there, in a task
        // its completion gives the channel's loop.
        tls.serverContext().get(30, TimeUnit.SECONDS);
        Await.until(Duration.ofSeconds(30), "the handshake to start", () -> {
            ch.runPendingTasks();
            return ch.pipeline().get(SslHandler.class) != null;
        });
        SslHandler handler = ch.pipeline().get(SslHandler.class);
        assertNotNull(handler);
        assertEquals(ServerTlsNegotiator.TLS_NAME, ch.pipeline().names().get(0));
        assertTrue(handler.engine().getUseClientMode());
        assertEquals("db.example.com", handler.engine().getPeerHost());
        assertEquals("HTTPS", handler.engine().getSSLParameters().getEndpointIdentificationAlgorithm(),
                "verify-full checks the host name");
        ByteBuf hello = ch.readOutbound();
        assertNotNull(hello, "a ClientHello");
        assertEquals(0x16, hello.getByte(0));
        hello.release();
        assertEquals(0, behind.active, "no StartupMessage before the handshake is done");
        ch.finishAndReleaseAll();
    }

    @Test
    void unixSocketsAndDisableSendNoSslRequest() throws Exception {
        Behind behind = new Behind();
        EmbeddedChannel ch = channel(tls("require"), "/var/run/postgresql", behind);
        assertEquals(1, behind.active);
        assertNull(ch.readOutbound());
        ch.finishAndReleaseAll();
        Behind plain = new Behind();
        ch = channel(tls("disable"), "127.0.0.1", plain);
        assertEquals(1, plain.active);
        assertNull(ch.readOutbound());
        ch.finishAndReleaseAll();
    }
}
