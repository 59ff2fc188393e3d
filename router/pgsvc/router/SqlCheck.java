package pgsvc.router;

import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;

import pgsvc.pooler.Pooler;
import pgsvc.pooler.ServerAuth;
import pgsvc.pooler.auth.AuthException;
import pgsvc.pooler.config.RouterSettings;
import pgsvc.protocol.ErrorFields;
import pgsvc.protocol.FrameDecoder;
import pgsvc.protocol.Messages;

/**
 * Checks a member with one query over one dedicated connection, kept open between rounds (one per member, not one
 * per service as HAProxy's checks are). The query reports recovery state, WAL position, apply delay and, on a
 * primary, its synchronous standbys; seeing those needs a check_user with pg_monitor.
 */
final class SqlCheck implements HealthCheck {
    static final String QUERY = "SELECT pg_is_in_recovery()::int, "
            + "(CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn(), '0/0') "
            + "ELSE pg_current_wal_lsn() END - '0/0'::pg_lsn)::bigint, "
            + "current_setting('recovery_min_apply_delay'), "
            + "CASE WHEN pg_is_in_recovery() THEN '' ELSE coalesce((SELECT string_agg(application_name, ',') "
            + "FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')), '') END, "
            + "CASE WHEN pg_is_in_recovery() THEN coalesce(extract(epoch FROM now() - "
            + "pg_last_xact_replay_timestamp())::float8, -1) ELSE 0 END";

    private final Member member;
    private final Pooler pooler;
    private final RouterSettings settings;
    private Channel channel;
    private boolean ready;
    private boolean running;
    private ScheduledFuture<?> timeout;

    SqlCheck(Member member, Pooler pooler, RouterSettings settings) {
        this.member = member;
        this.pooler = pooler;
        this.settings = settings;
    }

    @Override
    public void run() {
        running = true;
        timeout = member.loop().schedule(() -> fail("check timed out"), settings.checkTimeoutMicros(),
                TimeUnit.MICROSECONDS);
        if (channel != null && channel.isActive() && ready) {
            channel.writeAndFlush(Messages.query(channel.alloc(), QUERY));
        } else {
            connect();
        }
    }

    @Override
    public void close() {
        if (channel != null) {
            channel.close();
        }
    }

    private void connect() {
        ready = false;
        ChannelInitializer<Channel> init = new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(FrameDecoder.NAME, new FrameDecoder());
                ch.pipeline().addLast("check", new Handler());
            }
        };
        int timeoutMillis = (int) Math.max(1, settings.checkTimeoutMicros() / 1000);
        channel = pooler.connect(member.loop(), member.host().host(), member.host().port(), timeoutMillis, init)
                .addListener((ChannelFutureListener) f -> {
                    if (!f.isSuccess()) {
                        fail("connect failed: " + f.cause().getMessage());
                    }
                }).channel();
    }

    private void pass(MemberRole role, long lsn, boolean delayed, Set<String> sync, double replayAge) {
        if (!running) {
            return;
        }
        running = false;
        timeout.cancel(false);
        member.passed(role, lsn, delayed, sync, replayAge);
    }

    private void fail(String reason) {
        if (!running) {
            return;
        }
        running = false;
        timeout.cancel(false);
        ready = false;
        if (channel != null) {
            channel.close();
        }
        member.failed(reason);
    }

    private final class Handler extends ChannelInboundHandlerAdapter {
        private ServerAuth auth;
        private List<String> row;

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            String user = settings.checkUser();
            String secret = pooler.authFile() == null || user == null ? null : pooler.authFile().secret(user);
            auth = new ServerAuth(user, secret, pooler::scramKeys);
            Map<String, String> startup = new LinkedHashMap<>();
            startup.put("user", user);
            startup.put("database", settings.checkDbname());
            startup.put("application_name", "pgsvc health check");
            ctx.writeAndFlush(Messages.startupMessage(ctx.alloc(), startup));
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf batch = (ByteBuf) msg;
            try {
                for (int i = batch.readerIndex(); i < batch.writerIndex(); i += FrameDecoder.frameLength(batch, i)) {
                    ByteBuf frame = batch.slice(i, FrameDecoder.frameLength(batch, i));
                    switch (frame.getByte(0)) {
                        case 'R' -> {
                            ByteBuf answer = auth.answer(ctx.alloc(), frame);
                            if (answer != null) {
                                ctx.writeAndFlush(answer);
                            }
                        }
                        case 'D' -> row = Messages.readDataRow(frame);
                        case 'E' -> {
                            ErrorFields e = Messages.readErrorFields(frame);
                            fail(e.sqlState() + " " + e.message());
                            return;
                        }
                        case 'Z' -> ready(ctx);
                        default -> {
                        }
                    }
                }
            } catch (AuthException e) {
                fail("check login failed: " + e.getMessage());
            } catch (RuntimeException e) {
                fail("bad check answer: " + e);
            } finally {
                batch.release();
            }
        }

        private void ready(ChannelHandlerContext ctx) {
            if (!ready) {
                ready = true;
                ctx.writeAndFlush(Messages.query(ctx.alloc(), QUERY));
                return;
            }
            List<String> r = row;
            row = null;
            if (r == null || r.size() < 4 || r.get(0) == null) {
                fail("check query returned no row");
                return;
            }
            MemberRole role = "1".equals(r.get(0)) ? MemberRole.REPLICA : MemberRole.PRIMARY;
            long lsn = r.get(1) == null ? 0 : Long.parseLong(r.get(1));
            boolean delayed = r.get(2) != null && !r.get(2).equals("0");
            Set<String> sync = new HashSet<>();
            if (r.get(3) != null && !r.get(3).isEmpty()) {
                sync.addAll(List.of(r.get(3).split(",")));
            }
            double replayAge = r.size() > 4 && r.get(4) != null ? Double.parseDouble(r.get(4)) : -1;
            pass(role, lsn, delayed, Set.copyOf(sync), replayAge);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            fail("connection closed");
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            fail(cause.toString());
        }
    }
}
