namespace LayerStats.Tests;

/// <summary>Where the checkout, its sample data and the shared fixtures beside it are, wherever the tests run.</summary>
public static class TestPaths
{
    private static readonly Lazy<string> s_repo = new(() =>
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "LayerStats.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        return dir ?? throw new DirectoryNotFoundException("cannot find the checkout (LayerStats.sln) above " + AppContext.BaseDirectory);
    });

    public static string Repo(params string[] parts) => Path.Combine([s_repo.Value, .. parts]);

    /// <summary>A file in <c>shared/</c>, which sits beside the checkout (as CI lays it out too).</summary>
    public static string Shared(params string[] parts)
    {
        string path = Path.Combine([Path.GetDirectoryName(s_repo.Value)!, "shared", .. parts]);
        return File.Exists(path) || Directory.Exists(path) ? path : throw new FileNotFoundException($"shared fixture missing: {path}");
    }

    public static string DiveImage => Shared("fixtures", "dive", "test-docker-image.tar");
}
