package pgsvc.pooler.tls;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

import javax.net.ssl.SSLException;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;

import pgsvc.protocol.Messages;

/**
 * The start of a connection to PostgreSQL under server_tls_sslmode: an SSLRequest, then on 'S' a TLS handshake
 * ({@link SslHandler} put in front of this handler), on 'N' plaintext unless the mode requires TLS. The handlers
 * behind it see {@code channelActive} only once the connection is ready for the StartupMessage, so whoever logs in
 * (a pooled server, an auth_query connection) is the same with and without TLS. This handler then leaves the pipeline.
 *
 * <p>Failures reach the handlers behind as a {@link Failure} in {@code exceptionCaught}, with PgBouncer's texts:
 * {@code bad sslreq answer}, {@code received unencrypted data after SSL response} (bytes that came with the answer
 * were not protected by the handshake to come, CVE-2021-23222), {@code server refused SSL}, and
 * {@code TLS handshake error: ...} for a certificate that does not verify.
 */
public final class ServerTlsNegotiator extends ChannelInboundHandlerAdapter {
    /** Pipeline name of this handler; the TLS handler it adds is named {@link #TLS_NAME}. */
    public static final String NAME = "serverTlsNegotiator";
    public static final String TLS_NAME = "tls";

    /** Why the connection could not be set up; the connection is closed by whoever handles it. */
    public static final class Failure extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public Failure(String message) {
            super(message, null, false, false);
        }
    }

    private enum State { REQUESTED, HANDSHAKE, DONE }

    private final Tls tls;
    private final String host;
    private final int port;
    private State state = State.REQUESTED;
    /** Set once a failure was reported: what the closing connection raises after it says nothing new. */
    private boolean failed;

    private ServerTlsNegotiator(Tls tls, String host, int port) {
        this.tls = tls;
        this.host = host;
        this.port = port;
    }

    /**
     * Puts the negotiation first in a new connection's pipeline when TLS applies to it (server_tls_sslmode is not
     * disable and the host is not a Unix socket directory); otherwise leaves the pipeline alone.
     */
    public static void addTo(ChannelPipeline pipeline, Tls tls, String host, int port) {
        if (tls.connectsWithTls(host)) {
            pipeline.addFirst(NAME, new ServerTlsNegotiator(tls, host, port));
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        // Held back from the handlers behind until the connection is ready for their StartupMessage.
        ctx.writeAndFlush(Messages.sslRequest(ctx.alloc()));
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (state != State.REQUESTED) {
            ctx.fireChannelRead(msg);
            return;
        }
        ByteBuf in = (ByteBuf) msg;
        try {
            if (!in.isReadable()) {
                return;
            }
            byte answer = in.readByte();
            if (answer != 'S' && answer != 'N') {
                fail(ctx, "bad sslreq answer");
            } else if (in.isReadable()) {
                fail(ctx, "received unencrypted data after SSL response");
            } else if (answer == 'S') {
                state = State.HANDSHAKE;
                CompletableFuture<SslContext> context = tls.serverContext();
                if (context.isDone()) {
                    startHandshake(ctx, context);
                } else {
                    // Only just after start: PostgreSQL waits for our ClientHello meanwhile.
                    context.whenComplete((c, e) -> ctx.executor().execute(() -> startHandshake(ctx, context)));
                }
            } else if (tls.serverMode().required()) {
                fail(ctx, "server refused SSL");
            } else {
                ready(ctx);
            }
        } finally {
            in.release();
        }
    }

    private void startHandshake(ChannelHandlerContext ctx, CompletableFuture<SslContext> context) {
        if (!ctx.channel().isActive() || ctx.isRemoved()) {
            return;
        }
        SslContext built;
        try {
            built = context.join();
        } catch (CompletionException e) {
            fail(ctx, "TLS setup failed: " + reason(e.getCause()));
            return;
        }
        ctx.pipeline().addBefore(ctx.name(), TLS_NAME, built.newHandler(ctx.alloc(), host, port));
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof SslHandshakeCompletionEvent done && state == State.HANDSHAKE) {
            if (done.isSuccess()) {
                ready(ctx);
            } else {
                fail(ctx, "TLS handshake error: " + reason(done.cause()));
            }
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (failed || state == State.HANDSHAKE && (cause instanceof SSLException
                || cause instanceof DecoderException && cause.getCause() instanceof SSLException)) {
            // The handshake's completion event says the same (before or after this); one report is enough.
            return;
        }
        ctx.fireExceptionCaught(cause);
    }

    private void ready(ChannelHandlerContext ctx) {
        state = State.DONE;
        ctx.fireChannelActive();
        ctx.pipeline().remove(this);
    }

    private void fail(ChannelHandlerContext ctx, String reason) {
        state = State.DONE;
        failed = true;
        ctx.fireExceptionCaught(new Failure(reason));
        ctx.close();
    }

    private static String reason(Throwable cause) {
        Throwable c = cause;
        while (c instanceof DecoderException && c.getCause() != null) {
            c = c.getCause();
        }
        return c.getMessage() != null ? c.getMessage() : c.getClass().getSimpleName();
    }
}
