package pgsvc.router;


import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;

import pgsvc.pooler.Endpoint;
import pgsvc.pooler.Pooler;
import pgsvc.protocol.Messages;

/**
 * A dest=postgres session: the client's bytes go to the chosen member as they are and back (HAProxy's TCP mode),
 * with authentication left to PostgreSQL. The member connection lives on the client's event loop, and each side is
 * read only while the other can take more.
 */
final class DirectProxy extends ChannelInboundHandlerAdapter {
    private final ServiceRoute route;
    private final Router router;
    private final Pooler pooler;
    private Channel client;
    private Channel server;
    private Endpoint endpoint;

    DirectProxy(ServiceRoute route, Router router, Pooler pooler) {
        this.route = route;
        this.router = router;
        this.pooler = pooler;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        client = ctx.channel();
        client.config().setAutoRead(false);
        endpoint = route.select();
        if (endpoint == null) {
            client.writeAndFlush(Messages.errorResponse(client.alloc(), "FATAL", "08006",
                    "no server available for service " + route.name())).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        server = pooler.connect(client.eventLoop(), endpoint.host(), endpoint.port(), 3000, new Backend())
                .addListener((ChannelFutureListener) f -> {
                    if (!f.isSuccess()) {
                        client.writeAndFlush(Messages.errorResponse(client.alloc(), "FATAL", "08006",
                                "could not connect to " + endpoint + " for service " + route.name()))
                                .addListener(ChannelFutureListener.CLOSE);
                        return;
                    }
                    router.sessionOpened(endpoint, client);
                    if (!client.isActive()) {
                        server.close();
                        return;
                    }
                    // From now on both sides read as data comes; a side stops only while the other is full.
                    client.config().setAutoRead(true);
                    server.config().setAutoRead(true);
                }).channel();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (server != null && server.isActive()) {
            server.write(msg, server.voidPromise());
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (server != null && server.isActive()) {
            server.flush();
            if (!server.isWritable()) {
                client.config().setAutoRead(false);
            }
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (server != null && server.isActive()) {
            server.config().setAutoRead(ctx.channel().isWritable());
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (server != null) {
            server.close();
            router.sessionClosed(endpoint, client);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }

    /** The member side: what it sends goes to the client; it is read while the client can take more. */
    private final class Backend extends ChannelInboundHandlerAdapter {
        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            // Nothing is read from the member until the client's side is ready for it.
            ctx.channel().config().setAutoRead(false);
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            client.write(msg, client.voidPromise());
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            client.flush();
            if (!client.isWritable()) {
                ctx.channel().config().setAutoRead(false);
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (client.isActive()) {
                client.config().setAutoRead(ctx.channel().isWritable());
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            client.close();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
