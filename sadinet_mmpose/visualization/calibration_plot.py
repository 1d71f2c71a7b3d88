"""The reliability diagram and the sparsification plot of a model's sigma."""
from typing import Dict


def plot_calibration(path: str,
                     curves: Dict[str, dict],
                     title: str = '') -> str:
    """Draw both panels into one PNG.

    Args:
        path (str): The PNG to write.
        curves (dict): ``{label: calibration_curves(...)}``, e.g.
            ``{'before': ..., 'after': ...}``.
        title (str): Figure title.

    Returns:
        str: ``path``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.6))
    ax1.plot([0, 100], [0, 100],
             color='0.6',
             lw=1,
             ls='--',
             label='calibrated')
    for label, c in curves.items():
        ax1.plot(c['levels'], c['coverage'], lw=1.6, label=label)
    ax1.set_xlabel('nominal probability of the region (%)')
    ax1.set_ylabel('joints inside it (%)')
    ax1.set_title('reliability diagram')
    ax1.set_xlim(0, 100)
    ax1.set_ylim(0, 100)
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    first = True
    for label, c in curves.items():
        ax2.plot(
            100 * c['fractions'],
            c['sparsification'],
            lw=1.6,
            label=f'{label}: most uncertain removed first')
        if first:
            ax2.plot(
                100 * c['fractions'],
                c['oracle'],
                color='k',
                lw=1,
                ls=':',
                label='oracle: largest errors removed first')
            first = False
    ax2.set_xlabel('joints removed (%)')
    ax2.set_ylabel('mean error of the rest (head sizes)')
    ax2.set_title('sparsification')
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
