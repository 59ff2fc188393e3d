package pgsvc.router;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.unix.DomainSocketAddress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.Pooler;
import pgsvc.pooler.config.Config;
import pgsvc.pooler.config.Dest;
import pgsvc.pooler.config.ServiceEntry;

/** The pooler's listening sockets: TCP on listen_addr:listen_port and the Unix socket in unix_socket_dir. */
final class Listeners implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Listeners.class);

    private final List<Channel> channels = new ArrayList<>();

    static Listeners open(Pooler pooler) throws Exception {
        Listeners listeners = new Listeners();
        try {
            listeners.bindAll(pooler);
        } catch (Exception e) {
            listeners.close();
            throw e;
        }
        return listeners;
    }

    private void bindAll(Pooler pooler) throws Exception {
        Config config = pooler.config();
        int port = config.listenPort();
        for (String addr : config.listenAddrs()) {
            bindTcp(tcp(pooler, config), addr, port, "");
        }
        String dir = config.unixSocketDir();
        if (dir != null && !dir.isEmpty() && pooler.transport().isEpoll()) {
            File socket = new File(dir, ".s.PGSQL." + port);
            if (socket.exists() && !socket.delete()) {
                throw new IllegalStateException("cannot remove stale socket " + socket);
            }
            ServerBootstrap b = new ServerBootstrap()
                    .group(pooler.workers())
                    .channel(pooler.transport().serverDomainSocketChannel())
                    .option(ChannelOption.SO_BACKLOG, config.listenBacklog())
                    .childOption(ChannelOption.RCVBUF_ALLOCATOR, Pooler.READ_SIZES)
                    .childHandler(pooler.clientInitializer());
            channels.add(b.bind(new DomainSocketAddress(socket)).sync().channel());
            socketPermissions(socket.toPath(), config.getInt("unix_socket_mode"), config.get("unix_socket_group"));
            log.info("listening on unix:{}", socket);
        }
    }

    /** One listener per router service: pooled services into the pooler, direct ones into a TCP proxy. */
    void bindServices(Pooler pooler, Router router) throws InterruptedException {
        Config config = pooler.config();
        for (ServiceRoute route : router.routes()) {
            ServiceEntry service = route.service();
            List<String> addrs = service.listenAddr() != null ? List.of(service.listenAddr()) : config.listenAddrs();
            for (String addr : addrs) {
                ServerBootstrap b = tcp(pooler, config);
                ServiceLimit limit = service.maxconn() > 0 ? new ServiceLimit(service.maxconn()) : null;
                ChannelInitializer<Channel> pooled = pooler.clientInitializer(route);
                b.childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        if (limit != null) {
                            ch.pipeline().addLast("maxconn", limit);
                        }
                        if (service.dest() == Dest.POSTGRES) {
                            ch.pipeline().addLast("direct", new DirectProxy(route, router, pooler));
                        } else {
                            ch.pipeline().addLast("pooled", pooled);
                        }
                    }
                });
                bindTcp(b, addr, service.port(), "service " + service.name() + " (role "
                        + service.role().configName() + ", dest " + service.dest().configName() + ") ");
            }
        }
    }

    /**
     * Binds one listen_addr entry. {@code *} means every IPv4 and IPv6 address, as in PgBouncer: {@code ::} first
     * (on a dual-stack host it takes IPv4 clients too, and they still show as IPv4 addresses), then {@code 0.0.0.0},
     * which such a host refuses as already taken; on a host without IPv6 only the second succeeds.
     */
    private void bindTcp(ServerBootstrap b, String addr, int port, String what) throws InterruptedException {
        if (!addr.equals("*")) {
            channels.add(b.bind(new InetSocketAddress(addr, port)).sync().channel());
            log.info("{}listening on {}:{}", what, addr, port);
            return;
        }
        boolean any = false;
        for (String host : new String[] {"::", "0.0.0.0"}) {
            io.netty.channel.ChannelFuture f = b.bind(new InetSocketAddress(host, port)).await();
            if (f.isSuccess()) {
                channels.add(f.channel());
                log.info("{}listening on {}:{}", what, host.equals("::") ? "[::]" : host, port);
                any = true;
            } else {
                log.debug("{}not listening on {}:{}: {}", what, host, port, f.cause().getMessage());
            }
        }
        if (!any) {
            // Neither family could bind: the IPv4 attempt says why (port in use, permission).
            channels.add(b.bind(new InetSocketAddress("0.0.0.0", port)).sync().channel());
        }
    }

    /** unix_socket_mode (an int, usually octal in the file) and unix_socket_group, as PgBouncer applies them. */
    private static void socketPermissions(java.nio.file.Path socket, int mode, String group) throws IOException {
        java.util.Set<java.nio.file.attribute.PosixFilePermission> perms = new java.util.HashSet<>();
        java.nio.file.attribute.PosixFilePermission[] order = {
            java.nio.file.attribute.PosixFilePermission.OTHERS_EXECUTE,
            java.nio.file.attribute.PosixFilePermission.OTHERS_WRITE,
            java.nio.file.attribute.PosixFilePermission.OTHERS_READ,
            java.nio.file.attribute.PosixFilePermission.GROUP_EXECUTE,
            java.nio.file.attribute.PosixFilePermission.GROUP_WRITE,
            java.nio.file.attribute.PosixFilePermission.GROUP_READ,
            java.nio.file.attribute.PosixFilePermission.OWNER_EXECUTE,
            java.nio.file.attribute.PosixFilePermission.OWNER_WRITE,
            java.nio.file.attribute.PosixFilePermission.OWNER_READ};
        for (int bit = 0; bit < order.length; bit++) {
            if ((mode & (1 << bit)) != 0) {
                perms.add(order[bit]);
            }
        }
        java.nio.file.Files.setPosixFilePermissions(socket, perms);
        if (group != null && !group.isEmpty()) {
            java.nio.file.attribute.GroupPrincipal g = socket.getFileSystem().getUserPrincipalLookupService()
                    .lookupPrincipalByGroupName(group);
            java.nio.file.Files.getFileAttributeView(socket, java.nio.file.attribute.PosixFileAttributeView.class)
                    .setGroup(g);
        }
    }

    /**
     * A listener accepts on one of the event loops, as PgBouncer accepts in its one loop: a separate accept thread
     * handed every new connection over through the loop's task queue and woke the loop for it, a write, a context
     * switch and a read more per login (perf/RESULTS.md, session 7).
     */
    private static ServerBootstrap tcp(Pooler pooler, Config config) {
        ServerBootstrap b = new ServerBootstrap()
                .group(pooler.workers())
                .channel(pooler.transport().serverSocketChannel())
                .option(ChannelOption.SO_BACKLOG, config.listenBacklog())
                .option(ChannelOption.SO_REUSEADDR, true)
                .childHandler(pooler.clientInitializer());
        pooler.tcpOptions(config).forEach((option, value) -> b.childOption(option, value));
        if (pooler.transport().isEpoll()) {
            if (config.soReuseport()) {
                b.option(EpollChannelOption.SO_REUSEPORT, true);
            }
            if (config.getBool("tcp_defer_accept")) {
                b.option(EpollChannelOption.TCP_DEFER_ACCEPT, 45);
            }
        }
        return b;
    }

    /** The bound TCP port of the first TCP listener (tests bind port 0). */
    int tcpPort() {
        for (Channel ch : channels) {
            if (ch.localAddress() instanceof InetSocketAddress a) {
                return a.getPort();
            }
        }
        return -1;
    }

    @Override
    public synchronized void close() {
        for (Channel ch : channels) {
            ch.close().syncUninterruptibly();
        }
        channels.clear();
    }
}
