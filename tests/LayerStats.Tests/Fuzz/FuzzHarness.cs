using System.Globalization;
using System.Runtime.ExceptionServices;
using CsCheck;
using LayerStats.Fixtures;

namespace LayerStats.Tests.Fuzz;

/// <summary>One change to an input's bytes. Positions are taken modulo the input length, so any op applies to any input.</summary>
public abstract record Mutation
{
    public abstract byte[] Apply(byte[] input);

    protected static int At(int position, int length) => length == 0 ? 0 : (int)((uint)position % (uint)length);
}

public sealed record FlipBit(int Position, int Bit) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        if (input.Length == 0)
        {
            return input;
        }

        var copy = (byte[])input.Clone();
        copy[At(Position, input.Length)] ^= (byte)(1 << (Bit & 7));
        return copy;
    }
}

public sealed record SetByte(int Position, byte Value) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        if (input.Length == 0)
        {
            return input;
        }

        var copy = (byte[])input.Clone();
        copy[At(Position, input.Length)] = Value;
        return copy;
    }
}

public sealed record Truncate(int Length) : Mutation
{
    public override byte[] Apply(byte[] input) => input[..At(Length, input.Length + 1)];
}

public sealed record DeleteRange(int Position, int Count) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        int at = At(Position, input.Length);
        int count = Math.Min(Count & 0x3ff, input.Length - at);
        return [.. input.AsSpan(0, at), .. input.AsSpan(at + count)];
    }
}

/// <summary>Inserts a 512-byte block at a block boundary: zeros, 0xff, or a copy of another block (a repeated header).</summary>
public sealed record InsertBlock(int Position, int Kind, int Source) : Mutation
{
    public override byte[] Apply(byte[] input)
    {
        int blocks = input.Length / 512;
        int at = At(Position, blocks + 1) * 512;
        at = Math.Min(at, input.Length);
        byte[] block = new byte[512];
        switch (Kind % 3)
        {
            case 1:
                Array.Fill(block, (byte)0xff);
                break;
            case 2 when blocks > 0:
                input.AsSpan(At(Source, blocks) * 512, 512).CopyTo(block);
                break;
        }

        return [.. input.AsSpan(0, at), .. block, .. input.AsSpan(at)];
    }
}

/// <summary>
/// Writes a value into a numeric or text field of the tar header block at a 512-byte boundary, then recomputes that
/// block's checksum, so that the mutation gets past the checksum to the code behind it.
/// </summary>
public sealed record SetHeaderField(int Block, int Field, long Value, int Style) : Mutation
{
    // name, mode, uid, gid, size, mtime, typeflag, linkname, magic, prefix, GNU realsize / sparse area
    private static readonly (int Offset, int Length)[] Fields =
        [(0, 100), (100, 8), (108, 8), (116, 8), (124, 12), (136, 12), (156, 1), (157, 100), (257, 8), (345, 155), (483, 12), (386, 24)];

    public override byte[] Apply(byte[] input)
    {
        int blocks = input.Length / 512;
        if (blocks == 0)
        {
            return input;
        }

        var copy = (byte[])input.Clone();
        int start = At(Block, blocks) * 512;
        var (offset, length) = Fields[(int)((uint)Field % (uint)Fields.Length)];
        var field = copy.AsSpan(start + offset, length);
        switch (((Style % 6) + 6) % 6)
        {
            case 0: // octal, as ustar writes it (may overflow the field: then truncated)
                Write(field, Convert.ToString(Value & long.MaxValue, 8));
                break;
            case 1: // GNU base-256
                field.Clear();
                field[0] = 0x80;
                for (int i = field.Length - 1, shift = 0; i > 0 && shift < 64; i--, shift += 8)
                {
                    field[i] = (byte)(Value >> shift);
                }

                break;
            case 2: // negative base-256
                field.Fill(0xff);
                field[^1] = (byte)Value;
                break;
            case 3: // a type flag or a single odd byte
                field.Clear();
                field[0] = (byte)"0125673xgLKSVDMX\0"[(int)((ulong)Value % 17)];
                break;
            case 4: // text: a path with dots, slashes and odd bytes
                Write(field, (Value % 4) switch { 0 => "../../x", 1 => "/", 2 => "./.wh..wh..opq", _ => "a/.wh.b" });
                break;
            default: // garbage digits
                Write(field, "9z \0" + Value.ToString(CultureInfo.InvariantCulture));
                break;
        }

        TarFormat.SetChecksum(Block512(copy, start));
        return copy;
    }

    private static void Write(Span<byte> field, string text)
    {
        field.Clear();
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        bytes.AsSpan(0, Math.Min(bytes.Length, field.Length)).CopyTo(field);
    }

    private static byte[] Block512(byte[] all, int start)
    {
        // SetChecksum works on a 512-byte array: copy out, fix, copy back.
        var block = all.AsSpan(start, 512).ToArray();
        TarFormat.SetChecksum(block);
        block.CopyTo(all, start);
        return block;
    }
}

/// <summary>Replaces a byte range with a JSON-ish token: other types, huge numbers, deep nesting, odd strings.</summary>
public sealed record SpliceToken(int Position, int Count, int Token) : Mutation
{
    private static readonly string[] Tokens =
    [
        "null", "true", "[]", "{}", "\"\"", "-1", "1e400", "18446744073709551616", "0.5", "\"sha256:\"",
        "\"sha256:" + new string('0', 64) + "\"", "\"sha512:" + new string('1', 128) + "\"", "\"md5:x\"", "\"\\u0000\"", "\"\\ud800\"",
        new string('[', 100) + new string(']', 100), "{\"a\":" + new string('[', 70) + new string(']', 70) + "}", "\"" + new string('x', 5000) + "\"",
        "\"application/vnd.oci.image.index.v1+json\"", "\"application/vnd.oci.image.manifest.v1+json\"", "\"application/vnd.docker.distribution.manifest.v1+json\"",
        "\"../../../etc/passwd\"", "\"blobs/sha256/../../x\"", "2147483648", "9223372036854775807",
    ];

    public override byte[] Apply(byte[] input)
    {
        int at = At(Position, input.Length + 1);
        int count = Math.Min(Count & 0x3f, input.Length - at);
        byte[] token = System.Text.Encoding.UTF8.GetBytes(Tokens[(int)((uint)Token % (uint)Tokens.Length)]);
        return [.. input.AsSpan(0, at), .. token, .. input.AsSpan(at + count)];
    }
}

/// <summary>A seed input and the mutations applied to it, in order.</summary>
public sealed record FuzzCase(string Seed, IReadOnlyList<Mutation> Mutations)
{
    public byte[] Build(IReadOnlyDictionary<string, byte[]> seeds) => Mutations.Aggregate(seeds[Seed], (bytes, m) => m.Apply(bytes));

    public override string ToString() => $"{Seed} <- [{string.Join(", ", Mutations)}]";
}

/// <summary>
/// The shared machinery of the fuzz targets: generators of mutations, the time budget, the seed corpus on disk, and
/// the check that runs each case with a timeout and saves a failing input to the corpus for a regression test.
/// </summary>
public static class FuzzHarness
{
    /// <summary>The committed corpus: seeds/ (inputs to mutate) and crashes/ (minimised failing inputs, replayed by every run).</summary>
    public static string Corpus(params string[] parts) => TestPaths.Repo(["tests", "LayerStats.Tests", "Fuzz", "corpus", .. parts]);

    /// <summary>
    /// Seconds of random exploration per target (LAYERSTATS_FUZZ_SECONDS), or null (the default): then each target runs
    /// a fixed list of cases, the same on every machine whatever its speed or load.
    /// </summary>
    public static int? ExploreSeconds() =>
        int.TryParse(Environment.GetEnvironmentVariable("LAYERSTATS_FUZZ_SECONDS"), NumberStyles.None, CultureInfo.InvariantCulture, out int s) && s > 0 ? s : null;

    /// <summary>Cases each target runs when it does not explore: LAYERSTATS_FUZZ_CASES, or the target's default.</summary>
    public static int CaseCount(int defaultCases) =>
        int.TryParse(Environment.GetEnvironmentVariable("LAYERSTATS_FUZZ_CASES"), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : defaultCases;

    /// <summary>The seed of the run: LAYERSTATS_FUZZ_SEED (to replay a reported case: it is then the first), else the target's fixed one.</summary>
    public static string Seed(string fixedSeed) => Environment.GetEnvironmentVariable("LAYERSTATS_FUZZ_SEED") is { Length: > 0 } s ? s : fixedSeed;

    /// <summary>
    /// Runs <paramref name="check"/> on cases of <paramref name="gen"/>. By default: the first <paramref name="cases"/>
    /// cases of one PCG stream started from the seed, so that a run's outcome does not depend on the machine's speed or
    /// load (a time budget covers fewer cases on a loaded machine, and CsCheck's seed fixes only its first case: the rest
    /// come from a clock-seeded stream, different on every run). A failure names the seed that makes its case the first
    /// (LAYERSTATS_FUZZ_SEED). With LAYERSTATS_FUZZ_SECONDS: CsCheck explores random cases for that long and shrinks a failure.
    /// </summary>
    public static void Run<T>(Gen<T> gen, string fixedSeed, int cases, Action<T> check)
    {
        string seed = Seed(fixedSeed);
        if (ExploreSeconds() is { } seconds)
        {
            gen.Sample(check, seed: seed, iter: int.MaxValue, time: seconds, threads: 1);
            return;
        }

        RunCases(gen, seed, CaseCount(cases), check);
    }

    /// <summary>The first <paramref name="count"/> cases of the PCG stream that <paramref name="seed"/> starts, in order.</summary>
    public static void RunCases<T>(Gen<T> gen, string seed, int count, Action<T> check)
    {
        var pcg = PCG.Parse(seed);
        for (int i = 0; i < count; i++)
        {
            ulong state = pcg.State;
            var value = gen.Generate(pcg, null, out _);
            try
            {
                check(value);
            }
            catch (Exception ex)
            {
                throw new FuzzFailureException($"case {i + 1} of {count} failed; LAYERSTATS_FUZZ_SEED={pcg.ToString(state)} replays it first: {value}", ex);
            }
        }
    }

    /// <summary>The most one case may allocate.</summary>
    public const long MaxAllocatedBytes = 256L << 20;

    public static readonly Gen<Mutation> ByteMutation = Gen.OneOf<Mutation>(
        Gen.Select(Gen.Int, Gen.Int[0, 7], (p, b) => (Mutation)new FlipBit(p, b)),
        Gen.Select(Gen.Int, Gen.Byte, (p, v) => (Mutation)new SetByte(p, v)),
        Gen.Int.Select(l => (Mutation)new Truncate(l)),
        Gen.Select(Gen.Int, Gen.Int[1, 1024], (p, c) => (Mutation)new DeleteRange(p, c)),
        Gen.Select(Gen.Int, Gen.Int[0, 2], Gen.Int, (p, k, s) => (Mutation)new InsertBlock(p, k, s)));

    public static readonly Gen<Mutation> TarMutation = Gen.Frequency(
        (3, ByteMutation),
        (4, Gen.Select(Gen.Int, Gen.Int, Gen.Long.Select(v => v % 4 == 0 ? v : v & 0xffffffffL), Gen.Int[0, 5], (b, f, v, s) => (Mutation)new SetHeaderField(b, f, v, s))));

    public static readonly Gen<Mutation> JsonMutation = Gen.Frequency(
        (2, ByteMutation),
        (3, Gen.Select(Gen.Int, Gen.Int[0, 40], Gen.Int, (p, c, t) => (Mutation)new SpliceToken(p, c, t))));

    public static Gen<FuzzCase> Cases(IReadOnlyList<string> seeds, Gen<Mutation> mutation, int maxMutations = 4) =>
        Gen.Select(Gen.Int[0, seeds.Count - 1], mutation.List[1, maxMutations], (i, ms) => new FuzzCase(seeds[i], ms));

    /// <summary>
    /// Runs one input through <paramref name="target"/> with a time limit. Passes when the target returns or throws one
    /// of <paramref name="allowed"/>; otherwise saves the input under corpus/crashes/ (when LAYERSTATS_FUZZ_SAVE is set)
    /// and fails with the exception.
    /// </summary>
    public static void Check(string targetName, byte[] input, Func<byte[], CancellationToken, Task> target, Type[] allowed, TimeSpan? limit = null)
    {
        var timeout = limit ?? TimeSpan.FromSeconds(10);
        using var cts = new CancellationTokenSource(timeout);
        long allocatedBefore = GC.GetTotalAllocatedBytes();
        Exception? failure = null;
        var task = Task.Run(() => target(input, cts.Token), CancellationToken.None);
        try
        {
            if (!task.Wait(timeout + TimeSpan.FromSeconds(5)))
            {
                failure = new TimeoutException($"{targetName}: no result after {timeout.TotalSeconds + 5} s (a hang)");
            }
        }
        catch (AggregateException ex) when (ex.InnerException is { } inner)
        {
            if (inner is OperationCanceledException && cts.IsCancellationRequested)
            {
                failure = new TimeoutException($"{targetName}: still running after {timeout.TotalSeconds} s (cancelled)", inner);
            }
            else if (!allowed.Any(t => t.IsInstanceOfType(inner)))
            {
                failure = inner;
            }
        }

        // Memory stays bounded: one small input may not make the reader allocate more than this (the fuzz tests run
        // alone, so the process-wide count is this case's).
        long allocated = GC.GetTotalAllocatedBytes() - allocatedBefore;
        if (failure is null && allocated > MaxAllocatedBytes)
        {
            failure = new InsufficientMemoryException($"{targetName}: allocated {allocated:N0} bytes for an input of {input.Length} bytes");
        }

        if (failure is null)
        {
            return;
        }

        string name = $"{targetName}-{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(input))[..16]}.bin";
        if (Environment.GetEnvironmentVariable("LAYERSTATS_FUZZ_SAVE") is { Length: > 0 })
        {
            Directory.CreateDirectory(Corpus("crashes"));
            File.WriteAllBytes(Corpus("crashes", name), input);
        }

        ExceptionDispatchInfo.Throw(new FuzzFailureException($"{targetName} failed on an input of {input.Length} bytes (would be saved as corpus/crashes/{name}): {failure.GetType().Name}: {failure.Message}", failure));
    }
}

public sealed class FuzzFailureException(string message, Exception inner) : Exception(message, inner);
