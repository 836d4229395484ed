import { useId, type ReactNode } from 'react';

interface SectionProps {
  title: string;
  children: ReactNode;
  className?: string;
  /** The heading's id, when the caller needs it (e.g. to build ids from it); generated otherwise. */
  headingId?: string;
  /** A primary button beside the heading. */
  action?: { label: string; onClick: () => void };
}

/** A section labelled by its h2, optionally with a primary action beside the heading. */
export function Section({ title, children, className, headingId, action }: SectionProps) {
  const generated = useId();
  const id = headingId ?? generated;
  const heading = <h2 id={id}>{title}</h2>;
  return (
    <section aria-labelledby={id} className={className}>
      {action ? (
        <div className="section-head">
          {heading}
          <button type="button" className="primary" onClick={action.onClick}>
            {action.label}
          </button>
        </div>
      ) : (
        heading
      )}
      {children}
    </section>
  );
}
