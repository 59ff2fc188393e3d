package pgsvc.pooler;

import java.util.concurrent.ThreadFactory;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;

/** Native epoll where the platform has it, NIO elsewhere; one choice for listeners and server connections alike. */
public final class Transport {
    private final boolean epoll;

    private Transport(boolean epoll) {
        this.epoll = epoll;
    }

    public static Transport detect() {
        return new Transport(Epoll.isAvailable() && !Boolean.getBoolean("pgsvc.nio"));
    }

    public boolean isEpoll() {
        return epoll;
    }

    public String name() {
        return epoll ? "epoll" : "nio";
    }

    public EventLoopGroup newGroup(int threads, String name) {
        ThreadFactory factory = new DefaultThreadFactory(name, false);
        return epoll ? new EpollEventLoopGroup(threads, factory) : new NioEventLoopGroup(threads, factory);
    }

    public Class<? extends SocketChannel> socketChannel() {
        return epoll ? EpollSocketChannel.class : NioSocketChannel.class;
    }

    /** Unix-domain sockets need the native transport: Netty 4.1's NIO has none. */
    public Class<? extends Channel> domainSocketChannel() {
        if (!epoll) {
            throw new IllegalStateException("Unix sockets need the epoll transport, which is not available here");
        }
        return EpollDomainSocketChannel.class;
    }

    public Class<? extends ServerChannel> serverDomainSocketChannel() {
        if (!epoll) {
            throw new IllegalStateException("Unix sockets need the epoll transport, which is not available here");
        }
        return EpollServerDomainSocketChannel.class;
    }

    public Class<? extends ServerSocketChannel> serverSocketChannel() {
        return epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
    }
}
