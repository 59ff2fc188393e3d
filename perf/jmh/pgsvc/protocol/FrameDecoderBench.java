package pgsvc.protocol;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The frame decoder on what a server sends for one pgbench -S transaction (RowDescription, DataRow,
 * CommandComplete, ReadyForQuery), whole in one read or split in two: the cost per read, decoder and pipeline.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class FrameDecoderBench {
    @Param({"whole", "split"})
    public String delivery;

    private EmbeddedChannel channel;
    private ByteBuf response;

    @Setup
    public void setUp() {
        pgsvc.protocol.QuietLogs.apply();
        channel = new EmbeddedChannel(new FrameDecoder());
        response = PooledByteBufAllocator.DEFAULT.directBuffer(256);
        frame(response, 'T', body("\u0000\u0001abalance\u0000\u0000\u0000@\u0006\u0000\u0004\u0000\u0000\u0000\u0017"
                + "\u0000\u0004\u00ff\u00ff\u00ff\u00ff\u0000\u0000"));
        frame(response, 'D', body("\u0000\u0001\u0000\u0000\u0000\u0004-123"));
        frame(response, 'C', body("SELECT 1\u0000"));
        frame(response, 'Z', body("I"));
    }

    private static byte[] body(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    private static void frame(ByteBuf out, char type, byte[] body) {
        out.writeByte(type).writeInt(body.length + 4).writeBytes(body);
    }

    @Benchmark
    public int decode() {
        if (delivery.equals("whole")) {
            channel.writeInbound(response.retainedDuplicate());
        } else {
            int half = response.readableBytes() / 2;
            channel.writeInbound(response.retainedSlice(0, half));
            channel.writeInbound(response.retainedSlice(half, response.readableBytes() - half));
        }
        int bytes = 0;
        ByteBuf batch;
        while ((batch = channel.readInbound()) != null) {
            bytes += batch.readableBytes();
            batch.release();
        }
        return bytes;
    }

    @TearDown
    public void tearDown() {
        response.release();
        channel.finishAndReleaseAll();
    }
}
