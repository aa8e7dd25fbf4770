using System.Diagnostics;
using System.Text;
using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.RegistryE2E;

/// <summary>Comparisons and checks shared by the registry end-to-end tests.</summary>
public static class RegistryScanHelpers
{
    /// <summary>The per-image figures of image_summary, without the names (which say where an image was found).</summary>
    public const string ImageRowsSql =
        """
        SELECT image_id, config_digest, manifest_digest, platform, layers, compressed_bytes, uncompressed_bytes,
               hidden_bytes, hidden_files, efficiency, wasted_bytes, user_wasted_percent, created
        FROM image_summary ORDER BY image_id
        """;

    public static List<string> ImageRows(CliHarness cli, Func<string, bool>? keep = null) =>
        cli.Query(ImageRowsSql).Rows
            .Where(r => keep is null || keep((string)r[0]!))
            .Select(r => string.Join(" | ", r.Select(v => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture))))
            .ToList();

    /// <summary>The same summary figures and the same image rows (ids = manifest digests) in both databases.</summary>
    public static void AssertSameFigures(CliHarness expected, CliHarness actual)
    {
        Assert.Equal(ImageRows(expected), ImageRows(actual));
        Assert.Equal(expected.Summary(), actual.Summary());
    }

    /// <summary>(repository, tag) of every image_refs row of an image, sorted.</summary>
    public static List<(string Repository, string Tag)> Refs(CliHarness cli, string imageId) =>
        cli.Query($"SELECT repository, tag FROM image_refs WHERE image_id = '{imageId}' ORDER BY repository, tag").Rows
            .Select(r => ((string)r[0]!, (string)r[1]!))
            .ToList();

    public static List<string> ImageIds(CliHarness cli) =>
        cli.Query("SELECT image_id FROM images ORDER BY image_id").Rows.Select(r => (string)r[0]!).ToList();

    public static long LastRun(CliHarness cli, string column) => cli.Scalar($"SELECT {column} FROM scan_runs ORDER BY run_id DESC LIMIT 1");

    /// <summary>
    /// None of <paramref name="secrets"/> is in the outputs, in any text column of any table of the database (scan_errors
    /// included), or anywhere in the database files' bytes.
    /// </summary>
    public static void AssertNowhere(CliHarness cli, string stdout, string stderr, params string[] secrets)
    {
        foreach (string secret in secrets)
        {
            Assert.DoesNotContain(secret, stdout, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, stderr, StringComparison.Ordinal);
        }

        var columns = cli.Query(
            """
            SELECT c.table_name, c.column_name FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_name = c.table_name AND t.table_schema = c.table_schema
            WHERE t.table_type = 'BASE TABLE' AND c.data_type = 'VARCHAR'
            """).Rows;
        Assert.Contains(columns, c => (string)c[0]! == "scan_errors" && (string)c[1]! == "message");
        foreach (var column in columns)
        {
            foreach (string secret in secrets)
            {
                string literal = secret.Replace("'", "''", StringComparison.Ordinal);
                long hits = cli.Scalar($"SELECT count(*) FROM \"{column[0]}\" WHERE contains(\"{column[1]}\", '{literal}')");
                Assert.True(hits == 0, $"{column[0]}.{column[1]} holds a secret");
            }
        }

        foreach (string file in Directory.GetFiles(Path.GetDirectoryName(cli.Database)!, Path.GetFileName(cli.Database) + "*"))
        {
            byte[] bytes = File.ReadAllBytes(file);
            foreach (string secret in secrets)
            {
                Assert.True(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)) < 0, $"{file} holds a secret in its bytes");
            }
        }
    }

    /// <summary>
    /// Runs <c>layerstats ARGS</c> as a child process (<c>dotnet layerstats.dll</c>), with a clean credential environment:
    /// HOME, XDG_RUNTIME_DIR and DOCKER_CONFIG point into <paramref name="home"/> unless <paramref name="environment"/>
    /// says otherwise, and REGISTRY_AUTH_FILE is unset; <paramref name="stdin"/> is written to its standard input.
    /// </summary>
    public static (int Exit, string Stdout, string Stderr) RunChild(
        string home,
        IEnumerable<string> args,
        Dictionary<string, string>? environment = null,
        string? stdin = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(typeof(LayerStats.Cli.Program).Assembly.Location);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment.Remove("REGISTRY_AUTH_FILE");
        start.Environment["HOME"] = home;
        start.Environment["XDG_RUNTIME_DIR"] = home;
        start.Environment["DOCKER_CONFIG"] = Path.Combine(home, ".docker");
        foreach (var (key, value) in environment ?? [])
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start dotnet");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
        }

        process.StandardInput.Close();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("layerstats did not finish within 3 minutes: " + string.Join(' ', args));
        }

        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Writes DIR/config.json with an <c>auths</c> entry for <paramref name="host"/> (base64 user:password), as docker login does.</summary>
    public static string WriteDockerConfig(string dir, string host, string username, string password)
    {
        Directory.CreateDirectory(dir);
        string auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{username}:{password}"));
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"auths\":{\"" + host + "\":{\"auth\":\"" + auth + "\"}}}");
        return auth;
    }
}
