#!/usr/bin/env python3
"""Size limits of src/ (docs/design.md): non-test lines per file (up to the first top-level
#[cfg(test)]; files of 300 lines and more are listed) and functions over 60 lines.
Usage: python3 contrib/sizes.py [src]"""
import os,re,sys
root=sys.argv[1] if len(sys.argv)>1 else 'src'
files=[]
for d,_,fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'): files.append(os.path.join(d,f))
big=[];longfn=[]
for p in sorted(files):
    lines=open(p).read().split('\n')
    if p.endswith('tests.rs') or '/tests/' in p: continue
    n=len(lines)
    for i,l in enumerate(lines):
        if l.startswith('#[cfg(test)]'): n=i; break
    if n>=300: big.append((n,p))
    # functions
    for i,l in enumerate(lines[:n]):
        m=re.match(r'^(\s*)(pub(\([a-z]+\))? )?(async )?(const )?fn (\w+)',l)
        if m:
            ind=m.group(1)
            for j in range(i+1,n):
                if lines[j]==ind+'}': 
                    if j-i+1>60: longfn.append((j-i+1,p,m.group(6)))
                    break
for n,p in sorted(big,reverse=True): print(f'{n:5} {p}')
print('--- functions > 60 lines')
for n,p,f in sorted(longfn,reverse=True): print(f'{n:5} {p} {f}')
