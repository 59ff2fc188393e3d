package pgsvc.router;

import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.timeout.ReadTimeoutHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.Transport;
import pgsvc.pooler.config.PgsvcSettings;

/**
 * The Prometheus endpoint ({@code [pgsvc] metrics_addr}, {@code metrics_port}): GET /metrics over HTTP/1.1 with
 * Netty's codec, on the pooler's event loops. A scrape never waits on a loop: it asks
 * {@link Metrics} for a page and writes it when the page arrives. Requests on one connection are answered in order,
 * one at a time; a connection idle for five minutes is closed.
 */
final class MetricsServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(MetricsServer.class);
    private static final int IDLE_SECONDS = 300;

    private final List<Channel> channels = new ArrayList<>();

    private MetricsServer() {
    }

    static MetricsServer open(PgsvcSettings settings, Transport transport, EventLoopGroup workers, Metrics metrics)
            throws InterruptedException {
        ServerBootstrap b = new ServerBootstrap()
                .group(workers)
                .channel(transport.serverSocketChannel())
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast("idle", new ReadTimeoutHandler(IDLE_SECONDS, TimeUnit.SECONDS));
                        ch.pipeline().addLast("http", new HttpServerCodec(4096, 8192, 8192));
                        ch.pipeline().addLast("aggregate", new HttpObjectAggregator(8192));
                        ch.pipeline().addLast("metrics", new Handler(metrics));
                    }
                });
        MetricsServer server = new MetricsServer();
        try {
            server.bind(b, settings.metricsAddr(), settings.metricsPort());
        } catch (InterruptedException | RuntimeException e) {
            server.close();
            throw e;
        }
        return server;
    }

    /** {@code *} binds every IPv4 and IPv6 address, as listen_addr does: {@code ::} then {@code 0.0.0.0}. */
    private void bind(ServerBootstrap b, String addr, int port) throws InterruptedException {
        if (!addr.equals("*")) {
            channels.add(b.bind(new InetSocketAddress(addr, port)).sync().channel());
            log.info("metrics on http://{}:{}/metrics", addr, port);
            return;
        }
        for (String host : new String[] {"::", "0.0.0.0"}) {
            ChannelFuture f = b.bind(new InetSocketAddress(host, port)).await();
            if (f.isSuccess()) {
                channels.add(f.channel());
                log.info("metrics on http://{}:{}/metrics", host.equals("::") ? "[::]" : host, port);
            }
        }
        if (channels.isEmpty()) {
            channels.add(b.bind(new InetSocketAddress("0.0.0.0", port)).sync().channel());
        }
    }

    @Override
    public void close() {
        for (Channel ch : channels) {
            ch.close().syncUninterruptibly();
        }
    }

    /** One connection's requests; every field is touched on the connection's loop only. */
    private static final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
        private record Request(boolean head, boolean keepAlive, HttpVersion version) {
        }

        private final Metrics metrics;
        private final ArrayDeque<Request> pending = new ArrayDeque<>();
        private boolean scraping;

        Handler(Metrics metrics) {
            this.metrics = metrics;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            boolean keepAlive = HttpUtil.isKeepAlive(req);
            if (!req.decoderResult().isSuccess()) {
                respond(ctx, HttpResponseStatus.BAD_REQUEST, "bad request\n", false, false, req.protocolVersion());
                return;
            }
            String path = new QueryStringDecoder(req.uri()).path();
            boolean head = req.method().equals(HttpMethod.HEAD);
            if (!path.equals("/metrics")) {
                respond(ctx, HttpResponseStatus.NOT_FOUND, "pgsvc serves /metrics\n", keepAlive, head,
                        req.protocolVersion());
            } else if (!head && !req.method().equals(HttpMethod.GET)) {
                FullHttpResponse res = response(ctx, HttpResponseStatus.METHOD_NOT_ALLOWED, "GET or HEAD\n", false,
                        req.protocolVersion());
                res.headers().set(HttpHeaderNames.ALLOW, "GET, HEAD");
                send(ctx, res, keepAlive);
            } else {
                pending.add(new Request(head, keepAlive, req.protocolVersion()));
                next(ctx);
            }
        }

        /** Starts the next queued scrape unless one is under way; answers keep the order of the requests. */
        private void next(ChannelHandlerContext ctx) {
            if (scraping || pending.isEmpty()) {
                return;
            }
            Request r = pending.poll();
            scraping = true;
            metrics.scrape(page -> ctx.executor().execute(() -> {
                scraping = false;
                respond(ctx, HttpResponseStatus.OK, page, r.keepAlive(), r.head(), r.version());
                next(ctx);
            }), error -> ctx.executor().execute(() -> {
                log.warn("metrics: scrape failed: {}", error.toString());
                scraping = false;
                respond(ctx, HttpResponseStatus.INTERNAL_SERVER_ERROR, "scrape failed\n", false, r.head(),
                        r.version());
            }));
        }

        private static void respond(ChannelHandlerContext ctx, HttpResponseStatus status, String body,
                boolean keepAlive, boolean head, HttpVersion version) {
            if (!ctx.channel().isActive()) {
                return;
            }
            send(ctx, response(ctx, status, body, head, version), keepAlive);
        }

        /** A response with its Content-Length; for HEAD the length of the body it leaves out. */
        private static FullHttpResponse response(ChannelHandlerContext ctx, HttpResponseStatus status, String body,
                boolean head, HttpVersion version) {
            ByteBuf content = head ? Unpooled.EMPTY_BUFFER : ByteBufUtil.writeUtf8(ctx.alloc(), body);
            FullHttpResponse res = new DefaultFullHttpResponse(version, status, content);
            res.headers().set(HttpHeaderNames.CONTENT_TYPE,
                    status == HttpResponseStatus.OK ? PrometheusText.CONTENT_TYPE : "text/plain; charset=utf-8");
            res.headers().setInt(HttpHeaderNames.CONTENT_LENGTH,
                    head ? ByteBufUtil.utf8Bytes(body) : content.readableBytes());
            return res;
        }

        private static void send(ChannelHandlerContext ctx, FullHttpResponse res, boolean keepAlive) {
            if (keepAlive) {
                if (!res.protocolVersion().isKeepAliveDefault()) {
                    res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
                }
                ctx.writeAndFlush(res);
            } else {
                res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
                ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // An idle timeout or a peer that went away: nothing to answer.
            ctx.close();
        }
    }
}
